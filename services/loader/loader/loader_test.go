package loader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/internal/jsonleaves"
	"github.com/serviceping/serviceping/services/loader/internal/testpings"
	"github.com/serviceping/serviceping/services/loader/lake"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// env is one test's embedded JetStream with the streams in place.
type env struct {
	js  jetstream.JetStream
	gen *pinggen.Generator
	url string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	js, url := testinfra.JetStream(t)
	g, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	return &env{js: js, gen: g, url: url}
}

// publish publishes generated pings for instances [from, to) and returns them.
func (e *env) publish(t *testing.T, from, to int) []*servicepingv1.EnrichedPing {
	t.Helper()
	var out []*servicepingv1.EnrichedPing
	for i := from; i < to; i++ {
		ep, err := testpings.Generated(e.gen, i, 3)
		if err != nil {
			t.Fatal(err)
		}
		e.publishEnvelope(t, ep)
		out = append(out, ep)
	}
	return out
}

func (e *env) publishEnvelope(t *testing.T, ep *servicepingv1.EnrichedPing) {
	t.Helper()
	data, err := proto.Marshal(ep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.Publish(context.Background(), streams.SubjectEnriched, data, jetstream.WithMsgID(ep.GetPingId())); err != nil {
		t.Fatal(err)
	}
}

func (e *env) consumerInfo(t *testing.T) *jetstream.ConsumerInfo {
	t.Helper()
	return e.streamConsumerInfo(t, streams.Pings)
}

// streamConsumerInfo is the loader's consumer on stream.
func (e *env) streamConsumerInfo(t *testing.T, stream string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := e.js.Consumer(context.Background(), stream, streams.ConsumerLoader)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func testConfig(root string) Config {
	return Config{
		NATS: lifecycle.NATS{NATSURL: "nats://unused"}, LakeURL: root,
		BatchMaxPings: 10, BatchMaxBytes: 64 << 20, BatchMaxAge: 300 * time.Millisecond,
		WriteTimeout: 10 * time.Second, AckWait: 30 * time.Second, MaxAckPending: 100,
		WriteAttempts: 4, NakDelayMax: time.Second, ShutdownTimeout: 10 * time.Second,
		ClickHouseMaxRowsPerInsert: 500_000,
	}
}

// running is a loader running in the background.
type running struct {
	l    *Loader
	reg  *prometheus.Registry
	stop func() error
}

func (e *env) start(t *testing.T, cfg Config, sinks ...Sink) *running {
	t.Helper()
	return e.startDeps(t, cfg, Deps{Sinks: sinks})
}

// startDeps runs a loader with deps (JS and Registerer filled in) and
// waits for its consumers.
func (e *env) startDeps(t *testing.T, cfg Config, deps Deps) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	deps.JS, deps.Registerer = e.js, reg
	l, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{l: l, reg: reg, stop: testinfra.Start(t, 20*time.Second, l.Run)}
	testinfra.Eventually(t, 10*time.Second, "consumers created", func() error {
		_, err := e.js.Consumer(context.Background(), streams.Pings, streams.ConsumerLoader)
		if err == nil && deps.Reports != nil {
			_, err = e.js.Consumer(context.Background(), streams.Reports, streams.ConsumerLoader)
		}
		return err
	})
	return r
}

// shutdown cancels Run's context and returns Run's result.
func (r *running) shutdown(t *testing.T) error {
	t.Helper()
	return r.stop()
}

// ackedTo is nil once info shows every message up to floor acked and
// none awaiting an ack, else says where the consumer stands.
func ackedTo(info *jetstream.ConsumerInfo, floor uint64) error {
	if info.NumAckPending != 0 || info.AckFloor.Stream != floor {
		return fmt.Errorf("ack floor %d (want %d), %d awaiting ack, %d pending", info.AckFloor.Stream, floor, info.NumAckPending, info.NumPending)
	}
	return nil
}

// drainedTo is ackedTo with nothing left to deliver either.
func drainedTo(info *jetstream.ConsumerInfo, floor uint64) error {
	if err := ackedTo(info, floor); err != nil || info.NumPending == 0 {
		return err
	}
	return fmt.Errorf("%d messages still to deliver", info.NumPending)
}

// lakeHolds is nil once the lake under root holds n pings.
func lakeHolds(t *testing.T, root string, n int) func() error {
	return func() error {
		if p, _ := readLake(t, root); len(p) != n {
			return fmt.Errorf("%d pings in the lake", len(p))
		}
		return nil
	}
}

// metricIs is nil once r's metric name (the samples with labels, as
// testinfra.Metric sums them) is want.
func (r *running) metricIs(t *testing.T, name string, labels map[string]string, want float64) func() error {
	return func() error {
		if got := testinfra.Metric(t, r.reg, name, labels); got != want {
			return fmt.Errorf("%s%v = %v", name, labels, got)
		}
		return nil
	}
}

func readLake(t *testing.T, root string) ([]rows.Ping, []rows.Metric) {
	t.Helper()
	p, m, err := lake.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return p, m
}

func newDir(t *testing.T) *lake.Dir {
	t.Helper()
	d, err := lake.NewDir(filepath.Join(t.TempDir(), "lake"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// expectedLeaves flattens a payload with encoding/json, independently of
// package flatten: path → (kind, value, value_string, is_fallback).
func expectedLeaves(t *testing.T, payload []byte) map[string]rows.Metric {
	t.Helper()
	out := map[string]rows.Metric{}
	err := jsonleaves.Walk(payload, func(path string, v any) {
		m := rows.Metric{KeyPath: path}
		switch x := v.(type) {
		case map[string]any:
			m.ValueKind, m.ValueString = "object", "{}"
		case []any:
			b, _ := json.Marshal(x)
			m.ValueKind, m.ValueString = "array", string(b)
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				t.Fatal(err)
			}
			m.ValueKind, m.Value, m.IsFallback = "number", &f, f == -1 || f == -2 || f == -1000
		case string:
			m.ValueKind, m.ValueString = "string", x
		case bool:
			f := 0.0
			if x {
				f = 1
			}
			m.ValueKind, m.Value = "boolean", &f
		case nil:
			m.ValueKind = "null"
		}
		out[path] = m
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkLake asserts the lake holds exactly the given pings, each once, with
// every leaf and exact values.
func checkLake(t *testing.T, root string, want []*servicepingv1.EnrichedPing) {
	t.Helper()
	pings, metrics := readLake(t, root)
	if len(pings) != len(want) {
		t.Fatalf("lake has %d ping rows, want %d", len(pings), len(want))
	}
	byID := map[string]rows.Ping{}
	for _, p := range pings {
		if _, dup := byID[p.PingID]; dup {
			t.Fatalf("ping %s is in the lake twice", p.PingID)
		}
		byID[p.PingID] = p
	}
	got := map[string]map[string]rows.Metric{}
	for _, m := range metrics {
		if got[m.PingID] == nil {
			got[m.PingID] = map[string]rows.Metric{}
		}
		if _, dup := got[m.PingID][m.KeyPath]; dup {
			t.Fatalf("ping %s key %s is in the lake twice", m.PingID, m.KeyPath)
		}
		got[m.PingID][m.KeyPath] = m
	}
	for _, ep := range want {
		p, ok := byID[ep.GetPingId()]
		if !ok {
			t.Fatalf("ping %s missing from the lake", ep.GetPingId())
		}
		if p.Payload != string(ep.GetPayload()) || p.UUID != ep.GetInstance().GetUuid() ||
			!p.ReceivedAt.Equal(ep.GetReceivedAt().AsTime()) || !p.RecordedAt.Equal(ep.GetInstance().GetRecordedAt().AsTime()) {
			t.Fatalf("ping %s row differs from its envelope", p.PingID)
		}
		exp := expectedLeaves(t, ep.GetPayload())
		gm := got[ep.GetPingId()]
		if len(gm) != len(exp) {
			t.Fatalf("ping %s: %d metric rows, want %d leaves", ep.GetPingId(), len(gm), len(exp))
		}
		for path, w := range exp {
			g, ok := gm[path]
			if !ok {
				t.Fatalf("ping %s: leaf %s missing", ep.GetPingId(), path)
			}
			if g.ValueKind != w.ValueKind || g.ValueString != w.ValueString || g.IsFallback != w.IsFallback ||
				(g.Value == nil) != (w.Value == nil) || (g.Value != nil && *g.Value != *w.Value) ||
				g.UUID != p.UUID || !g.RecordedAt.Equal(p.RecordedAt) {
				t.Fatalf("ping %s leaf %s: got %+v, want %+v", ep.GetPingId(), path, g, w)
			}
		}
	}
}

func TestLoadsEveryLeafExactlyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := e.publish(t, 0, 25)
	dir := newDir(t)
	begin := time.Now()
	r := e.start(t, testConfig(dir.Root()), dir)

	testinfra.Eventually(t, 30*time.Second, "25 pings in the lake", lakeHolds(t, dir.Root(), 25))
	testinfra.Eventually(t, 10*time.Second, "every message acked", func() error { return drainedTo(e.consumerInfo(t), 25) })
	checkLake(t, dir.Root(), want)
	if got := testinfra.Metric(t, r.reg, "serviceping_loader_messages_total", map[string]string{"outcome": "ack"}); got != 25 {
		t.Errorf("acked %v messages, want 25", got)
	}
	if got := testinfra.Metric(t, r.reg, "serviceping_loader_rows_written_total", map[string]string{"table": "pings"}); got != 25 {
		t.Errorf("rows_written_total{table=pings} = %v", got)
	}
	checkPingLag(t, r.reg, want, begin, time.Now())
	if err := r.shutdown(t); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestFlushTriggers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		publish int
		tune    func(c *Config, payloadSizes []int)
		batches float64 // batches written once all are in
	}{
		{"count", 6, func(c *Config, _ []int) { c.BatchMaxPings, c.BatchMaxAge, c.AckWait = 3, time.Hour, 2*time.Hour }, 2},
		{"bytes", 4, func(c *Config, sizes []int) {
			c.BatchMaxPings, c.BatchMaxAge, c.AckWait = 100, time.Hour, 2*time.Hour
			// One ping stays below the limit, any two reach it.
			c.BatchMaxBytes = int64(slices.Max(sizes)) + 1
			if c.BatchMaxBytes > int64(2*slices.Min(sizes)) {
				panic(fmt.Sprintf("payload sizes %v too uneven for this case", sizes))
			}
		}, 2},
		{"age", 3, func(c *Config, _ []int) { c.BatchMaxPings, c.BatchMaxAge = 100, 500*time.Millisecond }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			want := e.publish(t, 0, tt.publish)
			dir := newDir(t)
			cfg := testConfig(dir.Root())
			var sizes []int
			for _, ep := range want {
				sizes = append(sizes, len(ep.GetPayload()))
			}
			tt.tune(&cfg, sizes)
			r := e.start(t, cfg, dir)
			testinfra.Eventually(t, 30*time.Second, "all pings flushed", lakeHolds(t, dir.Root(), tt.publish))
			checkLake(t, dir.Root(), want)
			testinfra.Eventually(t, 5*time.Second, "batches counted", r.metricIs(t, "serviceping_loader_batches_total", map[string]string{"result": "written"}, tt.batches))
			files, _ := lake.Files(dir.Root())
			if len(files) != 2*int(tt.batches) {
				t.Errorf("files = %v, want %v batches × 2 tables", files, tt.batches)
			}
		})
	}
}

// flakySink wraps a sink: its first `fail` writes write through and then
// fail (as when the lake took the batch but a second sink did not), or
// fail without writing when writeFirst is false.
type flakySink struct {
	next       Sink
	fail       int
	writeFirst bool
	// observe is called at each failure, before returning; failures
	// returns what it answered.
	observe func() *jetstream.ConsumerInfo

	mu        sync.Mutex
	calls     int
	failedIDs []string
	okIDs     []string
	observed  []*jetstream.ConsumerInfo
}

// failures returns the consumer states observe answered at each failure.
func (s *flakySink) failures() []*jetstream.ConsumerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.observed)
}

func (s *flakySink) Write(ctx context.Context, b rows.Batch) error {
	s.mu.Lock()
	s.calls++
	failing := s.calls <= s.fail
	s.mu.Unlock()
	if failing {
		if s.writeFirst {
			if err := s.next.Write(ctx, b); err != nil {
				return err
			}
		}
		var info *jetstream.ConsumerInfo
		if s.observe != nil {
			info = s.observe()
		}
		s.mu.Lock()
		s.failedIDs = append(s.failedIDs, b.ID)
		if s.observe != nil {
			s.observed = append(s.observed, info)
		}
		s.mu.Unlock()
		return errors.New("clickhouse unavailable (simulated)")
	}
	if err := s.next.Write(ctx, b); err != nil {
		return err
	}
	s.mu.Lock()
	s.okIDs = append(s.okIDs, b.ID)
	s.mu.Unlock()
	return nil
}

func TestTransientSinkFailureRetriesSameBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := e.publish(t, 0, 20)
	dir := newDir(t)
	sink := &flakySink{next: dir, fail: 2, writeFirst: true, observe: func() *jetstream.ConsumerInfo { return e.consumerInfo(t) }}
	cfg := testConfig(dir.Root())
	cfg.BatchMaxAge, cfg.AckWait = time.Hour, 2*time.Hour // flush by count only: 2 batches of 10
	r := e.start(t, cfg, sink)

	testinfra.Eventually(t, 30*time.Second, "every message acked", func() error { return ackedTo(e.consumerInfo(t), 20) })
	observed := sink.failures()
	for i, info := range observed {
		if info.AckFloor.Stream != 0 || info.NumAckPending < 10 {
			t.Errorf("failure %d: ack floor %d, ack pending %d; want nothing acked and the batch pending", i+1, info.AckFloor.Stream, info.NumAckPending)
		}
	}
	if len(observed) != 2 {
		t.Fatalf("observed %d failures, want 2", len(observed))
	}
	// The failed batch was rewritten under the same ID: its files were
	// replaced, not duplicated.
	if sink.failedIDs[0] != sink.failedIDs[1] || !slices.Contains(sink.okIDs, sink.failedIDs[0]) || len(sink.okIDs) != 2 {
		t.Errorf("failed %v, written %v: want the failing batch retried with its ID", sink.failedIDs, sink.okIDs)
	}
	if files, _ := lake.Files(dir.Root()); len(files) != 4 {
		t.Errorf("files = %v, want 2 batches × 2 tables", files)
	}
	checkLake(t, dir.Root(), want)
	if got := testinfra.Metric(t, r.reg, "serviceping_loader_messages_total", map[string]string{"outcome": "nak"}); got != 0 {
		t.Errorf("naked %v messages; a retried batch needs no Nak", got)
	}
}

func TestTransientSinkFailureNaksAndRedelivers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := e.publish(t, 0, 10)
	dir := newDir(t)
	sink := &flakySink{next: dir, fail: 2, observe: func() *jetstream.ConsumerInfo { return e.consumerInfo(t) }}
	cfg := testConfig(dir.Root())
	cfg.WriteAttempts = 1 // Nak at the first failure
	r := e.start(t, cfg, sink)

	testinfra.Eventually(t, 30*time.Second, "every message acked", func() error { return ackedTo(e.consumerInfo(t), 10) })
	observed := sink.failures()
	if len(observed) != 2 {
		t.Fatalf("observed %d failures, want 2", len(observed))
	}
	for i, info := range observed {
		if info.AckFloor.Stream != 0 || info.NumAckPending != 10 {
			t.Errorf("failure %d: ack floor %d, ack pending %d", i+1, info.AckFloor.Stream, info.NumAckPending)
		}
	}
	if observed[1].NumRedelivered != 10 {
		t.Errorf("second failure: %d redelivered, want 10", observed[1].NumRedelivered)
	}
	if got := testinfra.Metric(t, r.reg, "serviceping_loader_messages_total", map[string]string{"outcome": "nak"}); got != 20 {
		t.Errorf("naked %v messages, want 20", got)
	}
	if got := testinfra.Metric(t, r.reg, "serviceping_loader_batches_total", map[string]string{"result": "failed"}); got != 2 {
		t.Errorf("failed batches %v, want 2", got)
	}
	checkLake(t, dir.Root(), want)
}

// deadLetters waits until the DLQ holds n dead letters and returns them,
// checking that each is on the loader's DLQ subject.
func (e *env) deadLetters(t *testing.T, n int) []*servicepingv1.DeadLetter {
	t.Helper()
	dlq, err := e.js.Stream(context.Background(), streams.DLQ)
	if err != nil {
		t.Fatal(err)
	}
	testinfra.Eventually(t, 10*time.Second, fmt.Sprintf("%d dead letters", n), func() error {
		info, err := dlq.Info(context.Background())
		if err != nil {
			return err
		}
		if info.State.Msgs != uint64(n) {
			return fmt.Errorf("%d dead letters", info.State.Msgs)
		}
		return nil
	})
	var out []*servicepingv1.DeadLetter
	for seq := uint64(1); seq <= uint64(n); seq++ {
		raw, err := dlq.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		if raw.Subject != streams.SubjectDLQPrefix+streams.ConsumerLoader {
			t.Errorf("dead letter on %s", raw.Subject)
		}
		dl := &servicepingv1.DeadLetter{}
		if err := proto.Unmarshal(raw.Data, dl); err != nil {
			t.Fatal(err)
		}
		out = append(out, dl)
	}
	return out
}

func TestUndecodableGoesToDLQ(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := e.publish(t, 0, 2)
	if _, err := e.js.Publish(context.Background(), streams.SubjectEnriched, []byte("\xff\xffnot a protobuf"), jetstream.WithMsgID("garbage")); err != nil {
		t.Fatal(err)
	}
	bad, err := testpings.Generated(e.gen, 7, 3)
	if err != nil {
		t.Fatal(err)
	}
	bad.Payload = []byte(`{"uuid": "x", "counts": {`)
	e.publishEnvelope(t, bad)
	good = append(good, e.publish(t, 2, 4)...)

	dir := newDir(t)
	cfg := testConfig(dir.Root())
	r := e.start(t, cfg, dir)
	testinfra.Eventually(t, 30*time.Second, "good pings loaded", lakeHolds(t, dir.Root(), 4))
	checkLake(t, dir.Root(), good)

	var reasons []string
	for _, dl := range e.deadLetters(t, 2) {
		if dl.GetConsumer() != streams.ConsumerLoader || dl.GetSubject() != streams.SubjectEnriched || len(dl.GetData()) == 0 {
			t.Errorf("dead letter %+v", dl)
		}
		reasons = append(reasons, dl.GetReason())
	}
	if !strings.Contains(reasons[0], "decode enriched ping") || !strings.Contains(reasons[1], "flatten payload") {
		t.Errorf("reasons = %q", reasons)
	}
	testinfra.Eventually(t, 10*time.Second, "all six settled", func() error { return ackedTo(e.consumerInfo(t), 6) })
	if got := testinfra.Metric(t, r.reg, "serviceping_loader_messages_total", map[string]string{"outcome": "dlq"}); got != 2 {
		t.Errorf("dlq outcome %v, want 2", got)
	}
}

func TestShutdownFlushesOpenBatch(t *testing.T) {
	t.Parallel()
	for _, via := range []string{"context", "Close"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			want := e.publish(t, 0, 3)
			dir := newDir(t)
			cfg := testConfig(dir.Root())
			cfg.BatchMaxPings, cfg.BatchMaxAge, cfg.AckWait = 100, time.Hour, 2*time.Hour
			r := e.start(t, cfg, dir)
			testinfra.Eventually(t, 10*time.Second, "3 messages in the open batch", r.metricIs(t, "serviceping_loader_open_batch_messages", nil, 3))
			if files, _ := lake.Files(dir.Root()); len(files) != 0 {
				t.Fatalf("flushed before shutdown: %v", files)
			}
			var err error
			if via == "Close" {
				err = r.l.Close()
				if err2 := r.l.Close(); err2 != err {
					t.Errorf("second Close = %v, want %v", err2, err)
				}
			} else {
				err = r.shutdown(t)
			}
			if err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			checkLake(t, dir.Root(), want)
			if info := e.consumerInfo(t); info.NumAckPending != 0 || info.AckFloor.Stream != 3 {
				t.Errorf("after shutdown: ack pending %d, ack floor %d", info.NumAckPending, info.AckFloor.Stream)
			}
		})
	}
}

func TestShutdownWithFailingSinkNaks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish(t, 0, 2)
	cfg := testConfig(t.TempDir())
	cfg.BatchMaxPings, cfg.BatchMaxAge, cfg.AckWait = 100, time.Hour, 2*time.Hour
	r := e.start(t, cfg, SinkFunc(func(context.Context, rows.Batch) error { return errors.New("down") }))
	testinfra.Eventually(t, 10*time.Second, "2 messages in the open batch", r.metricIs(t, "serviceping_loader_open_batch_messages", nil, 2))
	if err := r.shutdown(t); err == nil {
		t.Fatal("Run returned nil although the last flush failed")
	}
	if got := testinfra.Metric(t, r.reg, "serviceping_loader_messages_total", map[string]string{"outcome": "nak"}); got != 2 {
		t.Errorf("naked %v, want 2", got)
	}
	if info := e.consumerInfo(t); info.AckFloor.Stream != 0 {
		t.Errorf("ack floor %d after a failed flush", info.AckFloor.Stream)
	}
}

func TestConsumerConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := newDir(t)
	cfg := testConfig(dir.Root())
	r := e.start(t, cfg, dir)
	var info *jetstream.ConsumerInfo
	testinfra.Eventually(t, 10*time.Second, "consumer created", func() error {
		c, err := e.js.Consumer(context.Background(), streams.Pings, streams.ConsumerLoader)
		if err != nil {
			return err
		}
		info, err = c.Info(context.Background())
		return err
	})
	c := info.Config
	if c.Durable != streams.ConsumerLoader || c.FilterSubject != streams.SubjectEnriched || c.AckPolicy != jetstream.AckExplicitPolicy ||
		c.AckWait != cfg.AckWait || c.MaxAckPending != cfg.MaxAckPending || c.MaxDeliver != -1 {
		t.Errorf("consumer config %+v", c)
	}
	_ = r.shutdown(t)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := testConfig("/tmp/lake")
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	remote := ok
	remote.LakeURL, remote.S3Endpoint, remote.ClickHouseURL = "s3://bucket/prefix", "http://127.0.0.1:9000", "clickhouse://127.0.0.1:9000/serviceping"
	if err := remote.Validate(); err != nil {
		t.Fatalf("valid S3 + ClickHouse config: %v", err)
	}
	tests := map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"s3 without bucket":  {func(c *Config) { c.LakeURL = "s3:///prefix" }, "no bucket"},
		"other scheme":       {func(c *Config) { c.LakeURL = "gs://x" }, "local directory"},
		"bad s3 endpoint":    {func(c *Config) { c.S3Endpoint = "minio:9000" }, "S3_ENDPOINT"},
		"bad clickhouse url": {func(c *Config) { c.ClickHouseURL = "ftp://x/db" }, "CLICKHOUSE_URL"},
		"tiny inserts":       {func(c *Config) { c.ClickHouseMaxRowsPerInsert = 10 }, "LOADER_CLICKHOUSE_MAX_ROWS_PER_INSERT"},
		"unknown insert":     {func(c *Config) { c.ClickHouseInsert = "copy" }, "LOADER_CLICKHOUSE_INSERT"},
		"lake insert on s3":  {func(c *Config) { c.LakeURL, c.ClickHouseInsert = "s3://b/p", InsertLake }, "directory lake"},
		"empty lake":         {func(c *Config) { c.LakeURL = "" }, "LAKE_URL is empty"},
		"ack wait too short": {func(c *Config) { c.AckWait = minAckWait - time.Millisecond }, "LOADER_ACK_WAIT"},
		"max ack pending":    {func(c *Config) { c.MaxAckPending = c.BatchMaxPings - 1 }, "LOADER_MAX_ACK_PENDING"},
		"zero pings":         {func(c *Config) { c.BatchMaxPings = 0 }, "LOADER_BATCH_MAX_PINGS"},
		"zero bytes":         {func(c *Config) { c.BatchMaxBytes = 0 }, "LOADER_BATCH_MAX_BYTES"},
		"zero age":           {func(c *Config) { c.BatchMaxAge = 0 }, "LOADER_BATCH_MAX_AGE"},
		"zero attempts":      {func(c *Config) { c.WriteAttempts = 0 }, "LOADER_WRITE_ATTEMPTS"},
		"small nak cap":      {func(c *Config) { c.NakDelayMax = time.Millisecond }, "LOADER_NAK_DELAY_MAX"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tt.mutate(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want mention of %q", err, tt.want)
			}
		})
	}
	// Every problem is reported at once.
	err := Config{}.Validate()
	if err == nil || strings.Count(err.Error(), "\n") < 5 {
		t.Errorf("Validate of the zero config = %v", err)
	}
}

func TestConfigFromEnvDefaults(t *testing.T) {
	for _, k := range []string{"NATS_URL", "LAKE_URL", "LOADER_BATCH_MAX_PINGS", "LOADER_BATCH_MAX_BYTES", "LOADER_BATCH_MAX_AGE", "LOADER_ACK_WAIT"} {
		t.Setenv(k, "")
		os.Unsetenv(k) // restored by t.Setenv's cleanup
	}
	t.Setenv("LOADER_BATCH_MAX_PINGS", "7")
	c, err := LoadConfig(context.Background(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if c.BatchMaxPings != 7 || c.BatchMaxBytes != 64<<20 || c.BatchMaxAge != 5*time.Second || c.AckWait != 15*time.Second ||
		c.MaxAckPending != 1000 || c.LakeURL != "./data/lake" || c.WriteAttempts != 4 {
		t.Errorf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestNewRejectsMissingDeps(t *testing.T) {
	t.Parallel()
	if _, err := New(testConfig("/tmp/x"), Deps{}); err == nil || !strings.Contains(err.Error(), "JetStream") || !strings.Contains(err.Error(), "sink") {
		t.Errorf("New without deps = %v", err)
	}
}

// checkPingLag: the ping-lag histogram holds one sample per ping, each the
// time from its received_at to a write between begin and end.
func checkPingLag(t *testing.T, g prometheus.Gatherer, pings []*servicepingv1.EnrichedPing, begin, end time.Time) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var low, high float64
	for _, ep := range pings {
		low += begin.Sub(ep.GetReceivedAt().AsTime()).Seconds()
		high += end.Sub(ep.GetReceivedAt().AsTime()).Seconds()
	}
	for _, mf := range mfs {
		if mf.GetName() != "serviceping_loader_ping_lag_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != uint64(len(pings)) || h.GetSampleSum() < low || h.GetSampleSum() > high {
			t.Errorf("ping lag: %d samples summing to %vs, want %d in [%v, %v]", h.GetSampleCount(), h.GetSampleSum(), len(pings), low, high)
		}
		return
	}
	t.Error("no serviceping_loader_ping_lag_seconds series")
}
