package devopsscore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/devopsscore"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

var week = 7 * 24 * time.Hour

func ping(id string, at time.Time, issues float64) devopsscore.Snapshot {
	s := devopsscore.Snapshot{PingID: id, RecordedAt: at}
	s.SetActiveUsers(10)
	s.SetCounter(devopsscore.Issues, issues)
	return s
}

// TestStoreRemember runs the store against a real JetStream: remembering
// is idempotent, concurrent writers of one instance lose nothing, Peek and
// State agree, and a corrupt value is overwritten rather than fatal.
func TestStoreRemember(t *testing.T) {
	ctx := context.Background()
	js, _ := testinfra.JetStream(t)
	store, err := (&devopsscore.Opener{JS: js}).Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

	if st, err := store.Peek(ctx, "unknown"); err != nil || len(st.Pings) != 0 {
		t.Fatalf("unknown instance: %+v, %v", st, err)
	}
	first := ping("p1", t0, 100)
	for range 3 { // a redelivered envelope is remembered again
		if err := store.Remember(ctx, "inst", first, nil); err != nil {
			t.Fatal(err)
		}
	}
	st, rev, err := store.State(ctx, "inst")
	if err != nil || len(st.Pings) != 1 || rev == 0 {
		t.Fatalf("after three remembers of one ping: %d pings, rev %d, %v", len(st.Pings), rev, err)
	}

	// Concurrent writers (two enrichers) of the same instance: every ping
	// ends up in the state.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			p := ping(fmt.Sprintf("c%d", i), t0.Add(time.Duration(i+1)*week), float64(200+i))
			if err := store.Remember(ctx, "inst", p, &devopsscore.Score{PreviousPingID: "p1"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	peeked, err := store.Peek(ctx, "inst")
	if err != nil {
		t.Fatal(err)
	}
	if len(peeked.Pings) != devopsscore.KeepPings {
		t.Fatalf("state has %d pings, want %d (p1 and four concurrent ones)", len(peeked.Pings), devopsscore.KeepPings)
	}
	for i, e := range peeked.Pings {
		if i > 0 && e.RecordedAt.Before(peeked.Pings[i-1].RecordedAt) {
			t.Errorf("state not ordered by recorded_at: %v", peeked.Pings)
		}
		if e.PingID != "p1" && (e.Answer == nil || e.Answer.PreviousPingID != "p1") {
			t.Errorf("ping %s lost its answer: %+v", e.PingID, e.Answer)
		}
	}

	// A value that does not decode: State says so, Remember overwrites it.
	kv, err := js.KeyValue(ctx, devopsscore.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "instance.broken", []byte{0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Peek(ctx, "broken"); err == nil {
		t.Error("a corrupt state decoded")
	}
	if err := store.Remember(ctx, "broken", first, nil); err != nil {
		t.Fatalf("remember over a corrupt state: %v", err)
	}
	if st, err := store.Peek(ctx, "broken"); err != nil || len(st.Pings) != 1 {
		t.Errorf("after overwrite: %+v, %v", st, err)
	}

	// Leaders: absent, then as written.
	l, err := store.Leaders(ctx)
	if err != nil || l.Instances != 0 || !l.ComputedAt.IsZero() {
		t.Fatalf("leaders before any refresh: %+v, %v", l, err)
	}
	want := devopsscore.Leaders{ComputedAt: t0, Instances: 12}
	want.Values[devopsscore.Notes] = 7.5
	if err := store.SetLeaders(ctx, want); err != nil {
		t.Fatal(err)
	}
	if l, err = store.Leaders(ctx); err != nil || l.Values != want.Values || l.Instances != 12 || !l.ComputedAt.Equal(t0) {
		t.Errorf("leaders = %+v, %v; want %+v", l, err, want)
	}
}
