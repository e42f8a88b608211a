package streams

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/serviceping/serviceping/pkg/natsembed"
)

func TestEnsureIsIdempotent(t *testing.T) {
	t.Parallel()
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
