// Package dlq reads and redrives the dead letters of the DLQ stream: the
// messages a consumer gave up on (a permanent failure, or too many
// deliveries), each kept as a servicepingv1.DeadLetter with the original
// subject, data and the reason — what `serviceping dlq list|show|redrive`
// gives an operator.
package dlq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/streams"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

// Letter is one dead letter: where it is kept and what it says.
type Letter struct {
	// Seq is its sequence in the DLQ stream (what show and redrive take).
	Seq uint64
	// Stored is when it was dead-lettered.
	Stored time.Time
	*servicepingv1.DeadLetter
}

// Filter selects dead letters; zero fields select all.
type Filter struct {
	// Consumer is the consumer that gave up (enricher, loader, crm).
	Consumer string
	// Reason selects letters whose reason contains it.
	Reason string
	// Seqs selects these DLQ sequences only.
	Seqs []uint64
}

func (f Filter) match(l Letter) bool {
	if f.Consumer != "" && l.GetConsumer() != f.Consumer {
		return false
	}
	if f.Reason != "" && !strings.Contains(l.GetReason(), f.Reason) {
		return false
	}
	return len(f.Seqs) == 0 || slices.Contains(f.Seqs, l.Seq)
}

// List returns the dead letters f selects, oldest first. A message of the
// DLQ stream that is not a DeadLetter is returned with only Seq, Stored and
// a Reason saying so.
func List(ctx context.Context, js jetstream.JetStream, f Filter) ([]Letter, error) {
	s, err := js.Stream(ctx, streams.DLQ)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", streams.DLQ, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", streams.DLQ, err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	var out []Letter
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		if len(f.Seqs) > 0 && !slices.Contains(f.Seqs, seq) {
			continue
		}
		l, err := get(ctx, s, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // redriven, or removed by the stream's limits
		}
		if err != nil {
			return nil, err
		}
		if f.match(l) {
			out = append(out, l)
		}
	}
	return out, nil
}

// Get returns the dead letter at seq.
func Get(ctx context.Context, js jetstream.JetStream, seq uint64) (Letter, error) {
	s, err := js.Stream(ctx, streams.DLQ)
	if err != nil {
		return Letter{}, fmt.Errorf("open stream %s: %w", streams.DLQ, err)
	}
	l, err := get(ctx, s, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Letter{}, fmt.Errorf("no dead letter %d (redriven, expired, or never there): %w", seq, err)
	}
	return l, err
}

func get(ctx context.Context, s jetstream.Stream, seq uint64) (Letter, error) {
	m, err := s.GetMsg(ctx, seq)
	if err != nil {
		return Letter{}, fmt.Errorf("read dead letter %d: %w", seq, err)
	}
	l := Letter{Seq: seq, Stored: m.Time, DeadLetter: &servicepingv1.DeadLetter{}}
	if err := proto.Unmarshal(m.Data, l.DeadLetter); err != nil {
		l.DeadLetter = &servicepingv1.DeadLetter{Subject: m.Subject, Reason: "not a dead letter: " + err.Error()}
	}
	return l, nil
}

// Decoded is a dead letter's original message, read by its subject.
type Decoded struct {
	// Kind names the envelope: RawPing, EnrichedPing, ErrorReport,
	// MetricTimings, or "CRM usage" (JSON).
	Kind string
	// Envelope is the message as JSON, its payload replaced by its size.
	Envelope json.RawMessage
	// Payload is what the instance sent, byte for byte (nil when the
	// envelope carries none).
	Payload []byte
}

// Decode reads l's original message. The error says why it cannot be read
// — often the very reason it was dead-lettered.
func Decode(l Letter) (Decoded, error) {
	var msg proto.Message
	var payload *[]byte // msg's field holding what the instance sent
	switch l.GetSubject() {
	case streams.SubjectRaw:
		m := &servicepingv1.RawPing{}
		msg, payload = m, &m.Payload
	case streams.SubjectEnriched:
		m := &servicepingv1.EnrichedPing{}
		msg, payload = m, &m.Payload
	case streams.SubjectErrors:
		m := &servicepingv1.ErrorReport{}
		msg, payload = m, &m.Raw
	case streams.SubjectMetadata:
		m := &servicepingv1.MetricTimings{}
		msg, payload = m, &m.Raw
	case streams.SubjectCRMUsage:
		if !json.Valid(l.GetData()) {
			return Decoded{Kind: "CRM usage"}, errors.New("CRM usage is not valid JSON")
		}
		return Decoded{Kind: "CRM usage", Envelope: l.GetData()}, nil
	default:
		return Decoded{}, fmt.Errorf("no envelope is known for subject %q", l.GetSubject())
	}
	d := Decoded{Kind: string(msg.ProtoReflect().Descriptor().Name())}
	if err := proto.Unmarshal(l.GetData(), msg); err != nil {
		return d, fmt.Errorf("decode %s: %w", d.Kind, err)
	}
	d.Payload, *payload = *payload, nil
	env, err := protojson.Marshal(msg)
	if err != nil {
		return d, fmt.Errorf("encode %s as JSON: %w", d.Kind, err)
	}
	// protojson varies its spacing on purpose; indenting the compact form
	// gives operators (and scripts) the same text every time.
	var out bytes.Buffer
	if err := json.Indent(&out, env, "", "  "); err != nil {
		return d, fmt.Errorf("indent %s: %w", d.Kind, err)
	}
	d.Envelope = out.Bytes()
	return d, nil
}

// RedriveMsgID is the Nats-Msg-Id a redriven letter is published under: the
// original id (which the stream's duplicate window would drop) and the
// letter's DLQ sequence, so redriving the same letter twice is dropped.
func RedriveMsgID(l Letter) string {
	id := l.GetMsgId()
	if id == "" {
		id = l.GetSubject() + "-" + strconv.FormatUint(l.GetStreamSequence(), 10)
	}
	return id + "/redrive-" + strconv.FormatUint(l.Seq, 10)
}

// Redrive publishes each letter's original message on its original subject
// again — after a fix, for its consumer to take it anew — then removes the
// letter from the DLQ. A letter that is not a DeadLetter is left alone. It
// returns how many letters were redriven.
func Redrive(ctx context.Context, js jetstream.JetStream, letters []Letter) (int, error) {
	s, err := js.Stream(ctx, streams.DLQ)
	if err != nil {
		return 0, fmt.Errorf("open stream %s: %w", streams.DLQ, err)
	}
	n := 0
	for _, l := range letters {
		if l.GetConsumer() == "" || !validSubject.MatchString(l.GetSubject()) {
			return n, fmt.Errorf("dead letter %d cannot be redriven: it names no consumer or subject", l.Seq)
		}
		if _, err := js.Publish(ctx, l.GetSubject(), l.GetData(), jetstream.WithMsgID(RedriveMsgID(l))); err != nil {
			return n, fmt.Errorf("redrive dead letter %d to %s: %w", l.Seq, l.GetSubject(), err)
		}
		if err := s.DeleteMsg(ctx, l.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, fmt.Errorf("remove redriven dead letter %d: %w", l.Seq, err)
		}
		n++
	}
	return n, nil
}

// validSubject is a subject of the pipeline's own streams.
var validSubject = regexp.MustCompile(`^serviceping\.(pings|reports|crm)\.[a-z]+$`)
