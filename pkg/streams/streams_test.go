package streams

import (
	"context"
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
	nc, err := nats.Connect(srv.ClientURL())
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
	// A changed option updates the stream in place.
	if err := Ensure(ctx, js, Options{MaxAge: 90 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	s, _ := js.Stream(ctx, Pings)
	if s.CachedInfo().Config.MaxAge != 90*24*time.Hour {
		t.Errorf("max age not updated: %s", s.CachedInfo().Config.MaxAge)
	}
	if err := Ensure(ctx, js, Options{Duplicates: time.Hour}); err == nil {
		t.Error("a duplicate window under 24h was accepted")
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
	js := startJetStream(t)
	ctx := context.Background()
	if err := Ensure(ctx, js, Options{}); err != nil {
		t.Fatal(err)
	}
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
