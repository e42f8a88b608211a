package devopsscore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

// Bucket is the JetStream key-value bucket holding each instance's recent
// pings (key instance.<uuid>) and the current leaders (key leaders).
const Bucket = "serviceping_devops_score"

// LeadersKey is the key of the current leaders in Bucket.
const LeadersKey = "leaders"

// instanceKey is the key of uuid's state. The gateway admits uuids of
// letters, digits and '-', all valid in a key.
func instanceKey(uuid string) string { return "instance." + uuid }

// KeepPings is how many of an instance's most recent pings its state keeps:
// enough to score a ping that arrives out of order and to answer a
// resubmitted ping exactly as the first time.
const KeepPings = 5

// StateTTL forgets an instance that has not pinged for this long; its next
// ping is scored like a first one.
const StateTTL = 400 * 24 * time.Hour

// BucketConfig is the key-value bucket's configuration.
func BucketConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "DevOps Score: each instance's recent pings and the current leaders",
		History:     1,
		TTL:         StateTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	}
}

// EnsureBucket creates the bucket or brings its configuration up to date.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, BucketConfig(replicas))
	if err != nil {
		return nil, fmt.Errorf("create or update key-value bucket %s: %w", Bucket, err)
	}
	return kv, nil
}

// Entry is one remembered ping of an instance.
type Entry struct {
	Snapshot
	// Answer is the score answered the first time the ping was seen; nil
	// when it was answered without one (a first ping).
	Answer *Score
}

func (e Entry) toProto() *servicepingv1.DevOpsScoreEntry {
	p := &servicepingv1.DevOpsScoreEntry{
		PingId: e.PingID, RecordedAt: timestamppb.New(e.RecordedAt),
		ActiveUsers: e.ActiveUsers, HasActiveUsers: e.HasActiveUsers,
		Counters: e.Counters[:], Answer: e.Answer.ToProto(),
	}
	for i, has := range e.HasCounter {
		if has {
			p.CountersPresent |= 1 << i
		}
	}
	return p
}

func entryFromProto(p *servicepingv1.DevOpsScoreEntry) Entry {
	e := Entry{Snapshot: Snapshot{PingID: p.GetPingId(), RecordedAt: p.GetRecordedAt().AsTime()}, Answer: FromProto(p.GetAnswer())}
	if p.GetHasActiveUsers() {
		e.SetActiveUsers(p.GetActiveUsers())
	}
	for i, v := range p.GetCounters() {
		if i < NumCounters && p.GetCountersPresent()&(1<<i) != 0 {
			e.SetCounter(i, v)
		}
	}
	return e
}

// State is an instance's recent pings, oldest first.
type State struct {
	Pings []Entry `json:"pings"`
}

// Decision is what to answer for a ping.
type Decision struct {
	// Score is nil when the ping is answered with usage_data_id only.
	Score *Score
	// Seen is true when the ping was scored before (a resubmission): Score
	// is the first answer, and the state needs no update.
	Seen bool
}

// Decide answers cur given the instance's state and the leaders: the
// stored answer when cur was seen before; otherwise a score against the
// most recent remembered ping recorded before cur, or no score when there
// is none (the instance's first ping, or an out-of-order ping older than
// everything remembered).
func (st State) Decide(cur Snapshot, leaders Leaders) Decision {
	var prev *Entry
	for i := range st.Pings {
		e := &st.Pings[i]
		if e.PingID == cur.PingID {
			return Decision{Score: e.Answer, Seen: true}
		}
		if e.RecordedAt.Before(cur.RecordedAt) && (prev == nil || e.RecordedAt.After(prev.RecordedAt)) {
			prev = e
		}
	}
	if prev == nil {
		return Decision{}
	}
	s := Compute(prev.Snapshot, cur, leaders)
	return Decision{Score: &s}
}

// With returns the state with cur and its answer remembered, keeping the
// KeepPings most recent pings, and whether that changed anything (not
// when cur is remembered already).
func (st State) With(cur Snapshot, answer *Score) (State, bool) {
	if slices.ContainsFunc(st.Pings, func(e Entry) bool { return e.PingID == cur.PingID }) {
		return st, false
	}
	cur.RecordedAt = cur.RecordedAt.UTC()
	e := Entry{Snapshot: cur, Answer: answer}
	pings := append(slices.Clone(st.Pings), e)
	slices.SortStableFunc(pings, func(a, b Entry) int { return a.RecordedAt.Compare(b.RecordedAt) })
	if len(pings) > KeepPings {
		pings = pings[len(pings)-KeepPings:]
	}
	return State{Pings: pings}, true
}

// Store reads and writes the bucket.
type Store struct {
	kv jetstream.KeyValue
	nc *nats.Conn // for Peek; nil: Peek uses kv
}

// NewStore uses kv (see EnsureBucket); nc, when not nil, serves Peek.
func NewStore(kv jetstream.KeyValue, nc *nats.Conn) *Store { return &Store{kv: kv, nc: nc} }

// ErrCorrupt marks a stored value that does not decode.
var ErrCorrupt = errors.New("corrupt devops score state")

// State loads uuid's state and its revision (0 when the instance is
// unknown). A value that does not decode is reported with ErrCorrupt
// together with its revision, so that the caller may overwrite it.
func (s *Store) State(ctx context.Context, uuid string) (State, uint64, error) {
	e, err := s.kv.Get(ctx, instanceKey(uuid))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return State{}, 0, nil
	}
	if err != nil {
		return State{}, 0, fmt.Errorf("read devops score state of %s: %w", uuid, err)
	}
	st, err := decodeState(uuid, e.Value())
	return st, e.Revision(), err
}

// Peek reads uuid's state for scoring, without its revision, in one
// direct-get request to the bucket's stream (JetStream's "last message for
// a subject" API, $JS.API.DIRECT.GET.<stream>.<subject>): cheaper than a
// key-value Get, which the gateway pays on every ping.
func (s *Store) Peek(ctx context.Context, uuid string) (State, error) {
	if s.nc == nil {
		st, _, err := s.State(ctx, uuid)
		return st, err
	}
	key := instanceKey(uuid)
	msg, err := s.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET.KV_"+Bucket+".$KV."+Bucket+"."+key, nil)
	if err != nil {
		return State{}, fmt.Errorf("read devops score state of %s: %w", uuid, err)
	}
	if status := msg.Header.Get("Status"); status != "" {
		if status == "404" {
			return State{}, nil
		}
		return State{}, fmt.Errorf("read devops score state of %s: status %s %s", uuid, status, msg.Header.Get("Description"))
	}
	if op := msg.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
		return State{}, nil
	}
	return decodeState(uuid, msg.Data)
}

func decodeState(uuid string, b []byte) (State, error) {
	var p servicepingv1.DevOpsScoreState
	if err := proto.Unmarshal(b, &p); err != nil {
		return State{}, fmt.Errorf("%w of %s: %w", ErrCorrupt, uuid, err)
	}
	st := State{Pings: make([]Entry, len(p.GetPings()))}
	for i, pe := range p.GetPings() {
		st.Pings[i] = entryFromProto(pe)
	}
	return st, nil
}

// Watch watches every instance's state and the leaders: first the current
// values, then a nil entry, then every change (see
// jetstream.KeyValue.Watch). DecodeEntry and DecodeLeaders read them.
func (s *Store) Watch(ctx context.Context) (jetstream.KeyWatcher, error) {
	w, err := s.kv.WatchFiltered(ctx, []string{instanceKey("*"), LeadersKey}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watch devops score states: %w", err)
	}
	return w, nil
}

// DecodeEntry decodes a watched entry into the instance's uuid and state.
func DecodeEntry(e jetstream.KeyValueEntry) (string, State, error) {
	uuid, ok := strings.CutPrefix(e.Key(), "instance.")
	if !ok {
		return "", State{}, fmt.Errorf("key %s is not an instance's state", e.Key())
	}
	st, err := decodeState(uuid, e.Value())
	return uuid, st, err
}

// Save writes uuid's state if it is still at revision rev (0: absent),
// and reports jetstream.ErrKeyExists when another writer got there first.
func (s *Store) Save(ctx context.Context, uuid string, st State, rev uint64) error {
	p := &servicepingv1.DevOpsScoreState{Pings: make([]*servicepingv1.DevOpsScoreEntry, len(st.Pings))}
	for i, e := range st.Pings {
		p.Pings[i] = e.toProto()
	}
	b, err := proto.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode devops score state of %s: %w", uuid, err)
	}
	if rev == 0 {
		_, err = s.kv.Create(ctx, instanceKey(uuid), b)
	} else {
		_, err = s.kv.Update(ctx, instanceKey(uuid), b, rev)
	}
	if err != nil {
		return fmt.Errorf("write devops score state of %s: %w", uuid, err)
	}
	return nil
}

// Remember adds cur and its answer to uuid's state (read, changed and
// written back; read again when another writer changed it meanwhile). A
// ping remembered already is left as it is, so remembering is idempotent.
func (s *Store) Remember(ctx context.Context, uuid string, cur Snapshot, answer *Score) error {
	const attempts = 4
	var err error
	for range attempts {
		st, rev, rerr := s.State(ctx, uuid)
		if rerr != nil && !errors.Is(rerr, ErrCorrupt) {
			return rerr
		}
		next, changed := st.With(cur, answer)
		if !changed {
			return nil
		}
		if err = s.Save(ctx, uuid, next, rev); err == nil || !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
	}
	return err
}

// EntryProto is what the gateway attaches to a ping's envelope for the
// enricher to remember: cur and the answer given with it.
func EntryProto(cur Snapshot, answer *Score) *servicepingv1.DevOpsScoreEntry {
	cur.RecordedAt = cur.RecordedAt.UTC()
	return Entry{Snapshot: cur, Answer: answer}.toProto()
}

// EntryFromProto reads an envelope's entry back.
func EntryFromProto(p *servicepingv1.DevOpsScoreEntry) (Snapshot, *Score) {
	e := entryFromProto(p)
	return e.Snapshot, e.Answer
}

// Opener opens the bucket on first use (creating it when missing) and
// keeps the store. It is safe for concurrent use.
type Opener struct {
	JS jetstream.JetStream
	// Replicas of the bucket it creates (STREAM_REPLICAS); a bucket that
	// exists is used as it is.
	Replicas int

	mu    sync.Mutex
	store *Store
}

// Store returns the store, opening the bucket when needed.
func (o *Opener) Store(ctx context.Context) (*Store, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.store != nil {
		return o.store, nil
	}
	kv, err := o.JS.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = EnsureBucket(ctx, o.JS, o.Replicas)
	}
	if err != nil {
		return nil, fmt.Errorf("open key-value bucket %s: %w", Bucket, err)
	}
	o.store = NewStore(kv, o.JS.Conn())
	return o.store, nil
}

// Leaders reads the current leaders; the zero Leaders (no population)
// when they were never computed.
func (s *Store) Leaders(ctx context.Context) (Leaders, error) {
	e, err := s.kv.Get(ctx, LeadersKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Leaders{}, nil
	}
	if err != nil {
		return Leaders{}, fmt.Errorf("read devops score leaders: %w", err)
	}
	return DecodeLeaders(e.Value())
}

// DecodeLeaders decodes the value of LeadersKey.
func DecodeLeaders(b []byte) (Leaders, error) {
	var l Leaders
	if err := json.Unmarshal(b, &l); err != nil {
		return Leaders{}, fmt.Errorf("%w: leaders: %w", ErrCorrupt, err)
	}
	return l, nil
}

// SetLeaders writes the current leaders.
func (s *Store) SetLeaders(ctx context.Context, l Leaders) error {
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode devops score leaders: %w", err)
	}
	if _, err := s.kv.Put(ctx, LeadersKey, b); err != nil {
		return fmt.Errorf("write devops score leaders: %w", err)
	}
	return nil
}
