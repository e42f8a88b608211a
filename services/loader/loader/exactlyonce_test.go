package loader

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/consume"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/lake"
	"github.com/serviceping/serviceping/services/loader/rows"
	"github.com/serviceping/serviceping/services/loader/warehouse"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// openWarehouse opens the ClickHouse sink on a fresh database, through
// base (a proxy) when given.
func openWarehouse(t *testing.T, prefix string, base ...string) *warehouse.Sink {
	t.Helper()
	s, err := warehouse.Open(context.Background(), chtest.URL(t, chtest.Database(t, prefix), base...), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// leaves is the number of ping_metrics rows each ping must have.
func leaves(t *testing.T, eps []*servicepingv1.EnrichedPing) map[string]uint64 {
	t.Helper()
	var b rows.Builder
	out := map[string]uint64{}
	for _, ep := range eps {
		r, err := b.Build(ep, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		out[ep.GetPingId()] = uint64(r.NumMetrics())
	}
	return out
}

// checkWarehouse asserts the effect of exactly once: one row per distinct
// ping in pings FINAL, and per ping exactly its leaves in ping_metrics FINAL.
func checkWarehouse(t *testing.T, s *warehouse.Sink, want []*servicepingv1.EnrichedPing) {
	t.Helper()
	ctx := context.Background()
	wantLeaves := leaves(t, want)
	if n := chtest.Count(t, s.Conn(), "SELECT count() FROM "+s.Database()+".pings FINAL"); n != uint64(len(wantLeaves)) {
		t.Errorf("SELECT count() FROM pings FINAL = %d, want %d distinct pings", n, len(wantLeaves))
	}
	var counts []struct {
		PingID string `ch:"ping_id"`
		N      uint64 `ch:"n"`
	}
	if err := s.Conn().Select(ctx, &counts, "SELECT ping_id, count() AS n FROM "+s.Database()+".ping_metrics FINAL GROUP BY ping_id"); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, c := range counts {
		got[c.PingID] = c.N
	}
	if len(got) != len(wantLeaves) {
		t.Errorf("metric rows for %d pings, want %d", len(got), len(wantLeaves))
	}
	for id, n := range wantLeaves {
		if got[id] != n {
			t.Errorf("ping %s: %d metric rows, want its %d leaves", id, got[id], n)
		}
	}
}

func waitAcked(t *testing.T, e *env, n uint64, within time.Duration) {
	t.Helper()
	testinfra.Eventually(t, within, "every message acked", func() error { return drainedTo(e.consumerInfo(t), n) })
}

// bothSinks is a lake directory, a warehouse on a fresh database named
// after prefix, and testConfig writing to that lake.
func bothSinks(t *testing.T, prefix string) (*lake.Dir, *warehouse.Sink, Config) {
	t.Helper()
	dir := newDir(t)
	return dir, openWarehouse(t, prefix), testConfig(dir.Root())
}

// TestExactlyOnceDeliveredTwice: every ping is published twice (a
// resubmission beyond the stream's duplicate window): the warehouse still
// holds each once.
func TestExactlyOnceDeliveredTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := e.publish(t, 0, 12)
	for _, ep := range want {
		data := mustMarshal(t, ep)
		if _, err := e.js.Publish(context.Background(), streams.SubjectEnriched, data, jetstream.WithMsgID(ep.GetPingId()+"-again")); err != nil {
			t.Fatal(err)
		}
	}
	dir, wh, cfg := bothSinks(t, "eo_twice")
	cfg.BatchMaxPings = 5 // the copies land in other batches than the originals
	e.start(t, cfg, dir, wh)
	waitAcked(t, e, 24, 60*time.Second)
	checkWarehouse(t, wh, want)
	// The lake holds every ping; a copy batched apart from its original is
	// a second file row (lake readers keep one row per ping_id, by _version).
	pings, _ := readLake(t, dir.Root())
	distinct := map[string]bool{}
	for _, p := range pings {
		distinct[p.PingID] = true
	}
	if len(distinct) != len(want) {
		t.Errorf("lake has %d distinct pings, want %d", len(distinct), len(want))
	}
}

// blockingSink writes through, then never returns until released: the
// process "dies" between the write and the ack.
type blockingSink struct {
	next    Sink
	once    sync.Once
	written chan struct{}
	release chan struct{}
}

func (s *blockingSink) Write(ctx context.Context, b rows.Batch) error {
	if err := s.next.Write(ctx, b); err != nil {
		return err
	}
	s.once.Do(func() { close(s.written) })
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return ctx.Err()
}

// TestExactlyOnceKilledBetweenWriteAndAck: a loader writes a batch to both
// sinks and loses its connection before acknowledging anything; a new
// loader gets the messages again after AckWait and rewrites them.
func TestExactlyOnceKilledBetweenWriteAndAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := e.publish(t, 0, 8)
	dir, wh, cfg := bothSinks(t, "eo_killed")
	cfg.BatchMaxPings, cfg.MaxAckPending = 8, 8
	cfg.WriteTimeout, cfg.AckWait = 5*time.Second, 6*time.Second

	// The first instance, on its own connection.
	js := testinfra.Connect(t, e.url)
	both := SinkFunc(func(ctx context.Context, b rows.Batch) error {
		if err := dir.Write(ctx, b); err != nil {
			return err
		}
		return wh.Write(ctx, b)
	})
	bs := &blockingSink{next: both, written: make(chan struct{}), release: make(chan struct{})}
	l1, err := New(cfg, Deps{JS: js, Sinks: []Sink{bs}})
	if err != nil {
		t.Fatal(err)
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	done1 := make(chan struct{})
	go func() { _ = l1.Run(ctx1); close(done1) }()
	select {
	case <-bs.written:
	case <-time.After(30 * time.Second):
		t.Fatal("first loader never wrote")
	}
	checkWarehouse(t, wh, want) // durable before any ack
	js.Conn().Close()           // killed: no ack, no nak ever reaches the server
	cancel1()
	close(bs.release)
	<-done1
	if info := e.consumerInfo(t); info.AckFloor.Stream != 0 {
		t.Fatalf("ack floor %d after the kill", info.AckFloor.Stream)
	}

	e.start(t, cfg, dir, wh)
	waitAcked(t, e, 8, 60*time.Second)
	checkWarehouse(t, wh, want)
	checkLake(t, dir.Root(), want)
}

// TestExactlyOnceReplay: after everything was loaded, the consumer is
// recreated and the whole stream replayed: no ping is counted twice.
func TestExactlyOnceReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := e.publish(t, 0, 10)
	dir, wh, cfg := bothSinks(t, "eo_replay")
	cfg.BatchMaxPings = 4
	r := e.start(t, cfg, dir, wh)
	waitAcked(t, e, 10, 60*time.Second)
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
	if err := e.js.DeleteConsumer(context.Background(), streams.Pings, streams.ConsumerLoader); err != nil {
		t.Fatal(err)
	}
	cfg.BatchMaxPings = 3 // replayed in other batches
	e.start(t, cfg, dir, wh)
	waitAcked(t, e, 10, 60*time.Second)
	checkWarehouse(t, wh, want)
}

func mustMarshal(t *testing.T, ep *servicepingv1.EnrichedPing) []byte {
	t.Helper()
	data, err := proto.Marshal(ep)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestPermanentSinkErrorDeadLettersOnlyThePoisonPing: a sink that can never
// take one ping fails its whole batch permanently; the loader isolates the
// ping, dead-letters it with the reason and loads the others.
func TestPermanentSinkErrorDeadLettersOnlyThePoisonPing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := e.publish(t, 0, 6)
	poison := want[2].GetPingId()
	dir := newDir(t)
	sink := SinkFunc(func(ctx context.Context, b rows.Batch) error {
		for _, r := range b.Records {
			if r.Ping.PingID == poison {
				return consume.Permanent(errors.New("VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE (simulated)"))
			}
		}
		return dir.Write(ctx, b)
	})
	cfg := testConfig(dir.Root())
	r := e.start(t, cfg, sink)
	waitAcked(t, e, 6, 30*time.Second)
	checkLake(t, dir.Root(), append(append([]*servicepingv1.EnrichedPing{}, want[:2]...), want[3:]...))
	dl := e.deadLetters(t, 1)[0]
	if !strings.Contains(dl.GetReason(), poison) || !strings.Contains(dl.GetReason(), "OUT_OF_RANGE") {
		t.Errorf("dead letter reason %q", dl.GetReason())
	}
	if got := testinfra.Metric(t, r.reg, "serviceping_loader_messages_total", map[string]string{"outcome": "dlq"}); got != 1 {
		t.Errorf("dlq outcome %v, want 1", got)
	}
}
