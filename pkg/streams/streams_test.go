package streams

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/natsembed"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

// startJetStream runs an embedded NATS server for the test.
func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return connect(t, srv.ClientURL())
}

// connect opens JetStream on url, reconnecting for as long as the test runs.
func connect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// startEnsured is startJetStream with the streams ensured at the
// defaults.
func startEnsured(t *testing.T) jetstream.JetStream {
	t.Helper()
	js := startJetStream(t)
	if err := Ensure(context.Background(), js, Options{}); err != nil {
		t.Fatal(err)
	}
	return js
}

func TestEnsureIsIdempotent(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	ctx := context.Background()
	for range 2 {
		if err := Ensure(ctx, js, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, cfg := range Configs(Options{}) {
		s, err := js.Stream(ctx, cfg.Name)
		if err != nil {
			t.Fatalf("stream %s: %v", cfg.Name, err)
		}
		got := s.CachedInfo().Config
		if got.Storage != jetstream.FileStorage || got.Duplicates < 24*time.Hour || got.MaxAge == 0 {
			t.Errorf("stream %s: storage %v, duplicates %s, max age %s", cfg.Name, got.Storage, got.Duplicates, got.MaxAge)
		}
	}
	if err := Ensure(ctx, js, Options{Duplicates: time.Hour}); err == nil {
		t.Error("a duplicate window under 24h was accepted")
	}
}

// TestEnsureReplicasNeedACluster: replicas above 1 on a single server fail
// with ErrNotClustered, which no retry fixes.
func TestEnsureReplicasNeedACluster(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	if err := Ensure(context.Background(), js, Options{Replicas: 3}); !errors.Is(err, ErrNotClustered) {
		t.Fatalf("Ensure with 3 replicas on one server: %v, want ErrNotClustered", err)
	}
}

// TestEnsureConsumerWaitsForTheServer: a consumer ensured while the
// server is away is created once it is back; a consumer on a stream that
// does not exist fails at once.
func TestEnsureConsumerWaitsForTheServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, err := natsembed.Start(natsembed.Config{Listen: "127.0.0.1:0", StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	js := connect(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Ensure(ctx, js, Options{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := EnsureConsumer(ctx, js, "NOSUCHSTREAM", Consumer("c", ConsumerOptions{})); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("consumer on a missing stream: %v after %s, want an error at once", err, time.Since(start))
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	done := make(chan error, 1)
	go func() {
		_, err := EnsureConsumer(ctx, js, Pings, Consumer(ConsumerLoader, ConsumerOptions{}, SubjectEnriched))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("EnsureConsumer returned %v while the server was down", err)
	case <-time.After(500 * time.Millisecond):
	}
	srv, err = natsembed.Start(natsembed.Config{Listen: addr, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	if err := <-done; err != nil {
		t.Fatalf("EnsureConsumer after the server came back: %v", err)
	}
	if _, err := js.Consumer(ctx, Pings, ConsumerLoader); err != nil {
		t.Fatal(err)
	}
}

// TestEnsureCreatesWithTheOptions: a missing stream is created with every
// configured setting.
func TestEnsureCreatesWithTheOptions(t *testing.T) {
	t.Parallel()
	js := startJetStream(t)
	ctx := context.Background()
	o := Options{MaxAge: 90 * 24 * time.Hour, MaxBytes: 1 << 30, Duplicates: 72 * time.Hour, Storage: "memory", Compression: "s2"}
	if err := Ensure(ctx, js, o); err != nil {
		t.Fatal(err)
	}
	for _, want := range Configs(o) {
		s, err := js.Stream(ctx, want.Name)
		if err != nil {
			t.Fatal(err)
		}
		got := s.CachedInfo().Config
		if got.MaxAge != o.MaxAge || got.MaxBytes != o.MaxBytes || got.Duplicates != o.Duplicates ||
			got.Storage != jetstream.MemoryStorage || got.Compression != jetstream.S2Compression || got.Replicas != 1 {
			t.Errorf("stream %s created with max age %s, max bytes %d, window %s, storage %s, compression %s, replicas %d; want %+v",
				want.Name, got.MaxAge, got.MaxBytes, got.Duplicates, got.Storage, got.Compression, got.Replicas, o)
		}
	}
}

// TestEnsureKeepsWhatAnOperatorSet: a service started with the defaults
// leaves the limits an operator changed on a stream as they are, logs each
// difference with its variable, and adds back a subject the stream lacks.
func TestEnsureKeepsWhatAnOperatorSet(t *testing.T) {
	t.Parallel()
	js := startEnsured(t)
	ctx := context.Background()
	s, err := js.Stream(ctx, Pings)
	if err != nil {
		t.Fatal(err)
	}
	op := s.CachedInfo().Config
	op.MaxBytes = 10 << 30
	op.MaxAge = 90 * 24 * time.Hour
	op.Duplicates = 72 * time.Hour
	op.Compression = jetstream.S2Compression
	op.Subjects = []string{SubjectRaw, "serviceping.pings.extra"}
	if _, err := js.UpdateStream(ctx, op); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	if err := EnsureWithLog(ctx, js, Defaults(), slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	info, err := js.Stream(ctx, Pings)
	if err != nil {
		t.Fatal(err)
	}
	got := info.CachedInfo().Config
	if got.MaxBytes != op.MaxBytes || got.MaxAge != op.MaxAge || got.Duplicates != op.Duplicates || got.Compression != op.Compression {
		t.Errorf("operator's settings changed: max bytes %d, max age %s, window %s, compression %s", got.MaxBytes, got.MaxAge, got.Duplicates, got.Compression)
	}
	if want := []string{SubjectRaw, "serviceping.pings.extra", SubjectEnriched}; !slices.Equal(got.Subjects, want) {
		t.Errorf("subjects %v, want %v (the missing one added, the operator's kept)", got.Subjects, want)
	}
	for _, v := range []string{"STREAM_MAX_BYTES", "STREAM_MAX_AGE", "STREAM_DUPLICATE_WINDOW", "STREAM_COMPRESSION"} {
		if !strings.Contains(logs.String(), "stream="+Pings+" variable="+v+" ") {
			t.Errorf("the difference in %s is not logged:\n%s", v, logs.String())
		}
	}
	if strings.Contains(logs.String(), "variable=STREAM_REPLICAS") || strings.Contains(logs.String(), "stream="+Reports+" variable=") {
		t.Errorf("a setting that does not differ is logged:\n%s", logs.String())
	}
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	base := Configs(Defaults())[0]
	with := func(f func(*jetstream.StreamConfig)) jetstream.StreamConfig {
		c := base
		c.Subjects = slices.Clone(base.Subjects)
		f(&c)
		return c
	}
	for _, tt := range []struct {
		name        string
		cur, want   jetstream.StreamConfig
		next        jetstream.StreamConfig
		changed     bool
		loggedNames []string
	}{
		{name: "equal", cur: base, want: base, next: base},
		{
			name: "replicas raised to the configuration",
			cur:  base, want: with(func(c *jetstream.StreamConfig) { c.Replicas = 3 }),
			next: with(func(c *jetstream.StreamConfig) { c.Replicas = 3 }), changed: true,
		},
		{
			name: "replicas an operator raised kept",
			cur:  with(func(c *jetstream.StreamConfig) { c.Replicas = 3 }), want: base,
			next: with(func(c *jetstream.StreamConfig) { c.Replicas = 3 }), loggedNames: []string{"STREAM_REPLICAS"},
		},
		{
			name: "a shorter window raised",
			cur:  with(func(c *jetstream.StreamConfig) { c.Duplicates = 24 * time.Hour }), want: base,
			next: base, changed: true,
		},
		{
			name: "a window raised no further than the stream's max age",
			cur: with(func(c *jetstream.StreamConfig) {
				c.Duplicates, c.MaxAge = 24*time.Hour, 36*time.Hour
			}),
			want: base,
			next: with(func(c *jetstream.StreamConfig) {
				c.Duplicates, c.MaxAge = 36*time.Hour, 36*time.Hour
			}),
			changed: true, loggedNames: []string{"STREAM_DUPLICATE_WINDOW", "STREAM_MAX_AGE"},
		},
		{
			name: "a missing subject added",
			cur:  with(func(c *jetstream.StreamConfig) { c.Subjects = c.Subjects[:1] }), want: base,
			next: base, changed: true,
		},
		{
			name: "storage kept",
			cur:  with(func(c *jetstream.StreamConfig) { c.Storage = jetstream.MemoryStorage }), want: base,
			next: with(func(c *jetstream.StreamConfig) { c.Storage = jetstream.MemoryStorage }), loggedNames: []string{"STREAM_STORAGE"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			next, changed := Reconcile(tt.cur, tt.want, slog.New(slog.NewTextHandler(&logs, nil)))
			if changed != tt.changed {
				t.Errorf("changed = %v, want %v", changed, tt.changed)
			}
			if !reflect.DeepEqual(next, tt.next) {
				t.Errorf("next = %+v\nwant %+v", next, tt.next)
			}
			var logged []string
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if _, v, ok := strings.Cut(line, "variable="); ok {
					logged = append(logged, strings.Fields(v)[0])
				}
			}
			slices.Sort(logged)
			if !slices.Equal(logged, tt.loggedNames) {
				t.Errorf("logged %v, want %v", logged, tt.loggedNames)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("the defaults of the tags do not validate: %v", err)
	}
	if d := Defaults(); d.Replicas != 1 || d.Storage != "file" {
		t.Errorf("defaults %+v: want STREAM_REPLICAS 1 on file storage", d)
	}
	err := Options{Replicas: 7, MaxBytes: -2, Storage: "disk", Compression: "zstd", MaxAge: 30 * time.Hour, Duplicates: 48 * time.Hour}.Validate()
	for _, v := range []string{"STREAM_REPLICAS", "STREAM_MAX_BYTES", "STREAM_STORAGE", "STREAM_COMPRESSION", "STREAM_MAX_AGE"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("Validate() = %v, want it to name %s", err, v)
		}
	}
}

// TestMsgIDsOfOnePingDiffer guards the shared duplicate window of PINGS: the
// raw and enriched messages of one ping, and a re-enrichment, must all be
// stored.
func TestMsgIDsOfOnePingDiffer(t *testing.T) {
	t.Parallel()
	const id = "ab12"
	ids := []string{RawMsgID(id, ""), EnrichedMsgID(id, ""), RawMsgID(id, "r1"), EnrichedMsgID(id, "r1")}
	if ids[0] != id {
		t.Errorf("raw msg id = %q, want the ping_id", ids[0])
	}
	seen := map[string]bool{}
	for _, s := range ids {
		if seen[s] {
			t.Fatalf("msg id %q used twice among %v", s, ids)
		}
		seen[s] = true
	}
}

func TestDeadLetterIDsDoNotCollideAcrossStreams(t *testing.T) {
	t.Parallel()
	if DeadLetterMsgID("PINGS", "loader", 7) == DeadLetterMsgID("REPORTS", "loader", 7) {
		t.Fatal("one consumer name on two streams yields the same dead-letter id")
	}
	if got := DeadLetterMsgID("PINGS", "loader", 7); got != "PINGS.loader-7" {
		t.Fatalf("DeadLetterMsgID = %q, want PINGS.loader-7", got)
	}
	if got := SubjectDLQ(ConsumerLoader); got != "serviceping.dlq.loader" {
		t.Fatalf("SubjectDLQ = %q", got)
	}
}

func TestMsgIDs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ got, want string }{
		{RawMsgID("ab12", ""), "ab12"},
		{RawMsgID("ab12", "r1"), "ab12/r1"},
		{EnrichedMsgID("ab12", ""), "enriched:ab12"},
		{EnrichedMsgID("ab12", "r1"), "enriched:ab12/r1"},
		{CRMUsageMsgID("ab12", ""), "crm-ab12"},
		{CRMUsageMsgID("ab12", "r1"), "crm-ab12/r1"},
		// echo -n '{}' | sha256sum
		{ReportMsgID([]byte("{}")), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
	} {
		if tt.got != tt.want {
			t.Errorf("msg id %q, want %q", tt.got, tt.want)
		}
	}
}

func TestStatusName(t *testing.T) {
	t.Parallel()
	for s, want := range map[servicepingv1.EnrichmentStatus]string{
		servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_UNSPECIFIED: "unspecified",
		servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_MATCHED:     "matched",
		servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_PARTIAL:     "partial",
		servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_UNMATCHED:   "unmatched",
		servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_FAILED:      "failed",
		servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_SKIPPED:     "skipped",
		servicepingv1.EnrichmentStatus(99):                           "99",
	} {
		if got := StatusName(s); got != want {
			t.Errorf("StatusName(%v) = %q, want %q", s, got, want)
		}
	}
	// Every status the envelope defines has a name.
	for n := range servicepingv1.EnrichmentStatus_name {
		if StatusName(servicepingv1.EnrichmentStatus(n)) == "" {
			t.Errorf("status %d has no name", n)
		}
	}
}

func TestRepublish(t *testing.T) {
	t.Parallel()
	js := startEnsured(t)
	ctx := context.Background()
	raw := &servicepingv1.RawPing{PingId: "ab12", Payload: []byte(`{"uuid":"u"}`), Source: "api"}
	for _, run := range []string{"r1", "r1", "r2"} {
		if err := Republish(ctx, js, raw, run); err != nil {
			t.Fatalf("Republish %s: %v", run, err)
		}
	}
	if raw.ReenrichId != "" {
		t.Error("Republish changed the ping it was given")
	}
	cons, err := js.OrderedConsumer(ctx, Pings, jetstream.OrderedConsumerConfig{FilterSubjects: []string{SubjectRaw}})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for msg := range batch.Messages() {
		var r servicepingv1.RawPing
		if err := proto.Unmarshal(msg.Data(), &r); err != nil {
			t.Fatal(err)
		}
		if id := msg.Headers().Get(jetstream.MsgIDHeader); id != RawMsgID(r.PingId, r.ReenrichId) {
			t.Errorf("Nats-Msg-Id %q for reenrich_id %q", id, r.ReenrichId)
		}
		got = append(got, r.ReenrichId)
	}
	if len(got) != 2 || got[0] != "r1" || got[1] != "r2" {
		t.Errorf("republished runs %v, want [r1 r2] (one message per run)", got)
	}
	if err := Republish(ctx, js, &servicepingv1.RawPing{}, "r3"); err == nil {
		t.Error("a ping without ping_id was republished")
	}
	if err := Republish(ctx, js, raw, ""); err == nil {
		t.Error("a ping was republished without a run id")
	}
}
