package loader

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/tables"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// pingBatcher is the PINGS consumer's batcher: enriched pings become
// records (rows.Builder), a batch is a rows.Batch written to every sink.
type pingBatcher struct {
	l       *Loader
	builder rows.Builder
	recs    []rows.Record // parallel to the consumer's open messages
}

// add decodes an enriched ping into its record. An envelope that does not
// decode, or a ping that cannot become rows, can never be loaded.
func (p *pingBatcher) add(msg jetstream.Msg) (int64, error) {
	var streamTime time.Time
	if md, err := msg.Metadata(); err == nil {
		streamTime = md.Timestamp
	}
	ep := &servicepingv1.EnrichedPing{}
	if err := proto.Unmarshal(msg.Data(), ep); err != nil {
		return 0, fmt.Errorf("decode enriched ping: %w", err)
	}
	// The record keeps the payload the message holds anyway until the
	// batch is acknowledged, not the copy Unmarshal made.
	if b, ok := envelopePayload(msg.Data()); ok {
		ep.Payload = b
	}
	rec, err := p.builder.Build(ep, streamTime)
	if err != nil {
		return 0, err
	}
	p.recs = append(p.recs, rec)
	return int64(len(ep.GetPayload())), nil
}

func (p *pingBatcher) take() batch {
	recs := p.recs
	p.recs = nil
	return pingBatch{l: p.l, b: rows.NewBatch(recs), recs: recs}
}

// pingBatch is a closed batch of pings: b holds one record per ping_id
// (the last copy), recs every message's record.
type pingBatch struct {
	l    *Loader
	b    rows.Batch
	recs []rows.Record
}

func (p pingBatch) write(ctx context.Context) error { return p.l.write(ctx, p.b) }
func (p pingBatch) logArgs() []any                  { return []any{"batch_id", p.b.ID, "pings", len(p.b.Records)} }
func (p pingBatch) String() string                  { return "batch " + p.b.ID }

func (p pingBatch) countRows() {
	p.l.m.rows.WithLabelValues(tables.Pings).Add(float64(len(p.b.Records)))
	p.l.m.rows.WithLabelValues(tables.Metrics).Add(float64(p.b.NumMetrics()))
	now := time.Now()
	for _, r := range p.b.Records {
		p.l.m.pingLag.Observe(now.Sub(r.Ping.ReceivedAt).Seconds())
	}
}

// split makes a part of each ping: the messages carrying the same ping_id
// share its fate, and its last record is written.
func (p pingBatch) split() []part {
	var parts []part
	byPing := map[string]int{} // ping_id → index in parts
	for i, r := range p.recs {
		id := r.Ping.PingID
		j, ok := byPing[id]
		if !ok {
			j = len(parts)
			byPing[id] = j
			parts = append(parts, part{what: "ping " + id})
		}
		parts[j].msgs = append(parts[j].msgs, i)
	}
	for j := range parts {
		last := p.recs[parts[j].msgs[len(parts[j].msgs)-1]]
		parts[j].batch = pingBatch{l: p.l, b: rows.NewBatch([]rows.Record{last}), recs: []rows.Record{last}}
	}
	return parts
}

// payloadField is EnrichedPing's payload field number (proto/serviceping/v1;
// TestPayloadField checks it).
const payloadField protowire.Number = 7

// envelopePayload is the payload's bytes inside an encoded EnrichedPing:
// the last occurrence of the field, as Unmarshal keeps; false when the
// envelope does not parse (Unmarshal said so already) or has none.
func envelopePayload(data []byte) ([]byte, bool) {
	var out []byte
	found := false
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return nil, false
		}
		data = data[n:]
		if num == payloadField && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(data)
			if m < 0 {
				return nil, false
			}
			out, found, data = v, true, data[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return nil, false
		}
		data = data[m:]
	}
	return out, found
}
