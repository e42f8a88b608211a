package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/serviceping/serviceping/pkg/devopsscore"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

// devopsPing is a small valid ping of instance uuid with counts.issues.
func devopsPing(uuid, recordedAt string, issues int) []byte {
	b, _ := json.Marshal(map[string]any{
		"uuid": uuid, "recorded_at": recordedAt, "version": "17.5.0", "active_user_count": 10,
		"counts": map[string]any{"issues": issues, "projects": 4},
	})
	return b
}

func convIndex(tb testing.TB, body []byte) map[string]float64 {
	tb.Helper()
	var out struct {
		ConvIndex map[string]float64 `json:"conv_index"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		tb.Fatalf("answer %s: %v", body, err)
	}
	return out.ConvIndex
}

// TestDevOpsScoreAnswer: a first ping answers usage_data_id only; once
// the ping is remembered (the enricher's job, done here by hand), the next
// answers all 30 fields; the raw envelope carries the entry to remember.
func TestDevOpsScoreAnswer(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	rec := h.postPing(t, devopsPing("inst-1", "2026-11-02 12:00:00 UTC", 100), false)
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ci := convIndex(t, rec.Body.Bytes()); len(ci) != 1 || ci["usage_data_id"] <= 0 {
		t.Fatalf("first ping answered %v", ci)
	}
	store, err := (&devopsscore.Opener{JS: h.js}).Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// What the enricher does with the envelope.
	first := devopsscore.Snapshot{PingID: "p1", RecordedAt: time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)}
	first.SetActiveUsers(10)
	first.SetCounter(devopsscore.Issues, 100)
	if err := store.Remember(ctx, "inst-1", first, nil); err != nil {
		t.Fatal(err)
	}
	rec = h.postPing(t, devopsPing("inst-1", "2026-11-09 12:00:00 UTC", 170), false)
	ci := convIndex(t, rec.Body.Bytes())
	if len(ci) != 31 || ci["instance_issues"] != 30 || ci["leader_issues"] != 0 || ci["percentage_issues"] != 0 {
		t.Errorf("second ping answered %v (want 31 fields, instance_issues 30, leaders 0 before any refresh)", ci)
	}
	if got := scoreOutcomes(t, h, "scored"); got != 1 {
		t.Errorf("scored = %v", got)
	}
}

// TestDevOpsScoreUnavailable: when the bucket cannot be read the ping is
// still accepted, answered with usage_data_id only, and counted.
func TestDevOpsScoreUnavailable(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	// A stream owning the bucket's subjects: the bucket can be neither
	// found nor created.
	if _, err := h.js.CreateStream(ctx, jetstream.StreamConfig{Name: "BLOCKER", Subjects: []string{"$KV." + devopsscore.Bucket + ".>"}}); err != nil {
		t.Fatal(err)
	}
	before := h.msgCount(t, streams.Pings)
	rec := h.postPing(t, devopsPing("inst-2", "2026-11-02 12:00:00 UTC", 1), false)
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ci := convIndex(t, rec.Body.Bytes()); len(ci) != 1 || ci["usage_data_id"] <= 0 {
		t.Errorf("answer %v, want usage_data_id only", ci)
	}
	if n := h.msgCount(t, streams.Pings); n != before+1 {
		t.Errorf("%d messages published, want 1", n-before)
	}
	if got := scoreOutcomes(t, h, "unavailable"); got != 1 {
		t.Errorf("unavailable = %v, want 1", got)
	}
}

// TestDevOpsScoreReplica: once the gateway's replica of the bucket is in
// sync, a new ping is scored from it — no read per ping — with the same
// answer the bucket gives; a resubmission and an out-of-order ping still
// read the bucket.
func TestDevOpsScoreReplica(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	store, err := (&devopsscore.Opener{JS: h.js}).Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	week := 7 * 24 * time.Hour
	t0 := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	remember := func(uuid string, at time.Time, issues float64) {
		s := devopsscore.Snapshot{PingID: uuid + at.String(), RecordedAt: at}
		s.SetActiveUsers(10)
		s.SetCounter(devopsscore.Issues, issues)
		if err := store.Remember(ctx, uuid, s, nil); err != nil {
			t.Fatal(err)
		}
	}
	remember("rep-a", t0, 100)
	remember("rep-b", t0, 100)
	// The first ping starts the watcher; poll until the replica knows rep-a.
	post := func(uuid string, at time.Time, issues int) map[string]float64 {
		rec := h.postPing(t, devopsPing(uuid, at.Format("2006-01-02 15:04:05 UTC"), issues), false)
		if rec.Code != http.StatusCreated {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		return convIndex(t, rec.Body.Bytes())
	}
	bucketAnswer := post("rep-b", t0.Add(week), 170)
	testinfra.Eventually(t, 5*time.Second, "the replica to sync", func() error {
		before := stateReads(t, h, "replica")
		a := post("rep-a", t0.Add(week).Add(time.Duration(stateReads(t, h, "bucket"))*time.Second), 170)
		if after := stateReads(t, h, "replica"); after <= before || a["instance_issues"] <= 0 {
			return fmt.Errorf("replica reads %v then %v, answer %v", before, after, a)
		}
		return nil
	})
	replicaAnswer := post("rep-a", t0.Add(week), 170)
	if bucketAnswer["instance_issues"] != 30 || replicaAnswer["instance_issues"] != bucketAnswer["instance_issues"] ||
		replicaAnswer["percentage_issues"] != bucketAnswer["percentage_issues"] {
		t.Errorf("replica answered %v, bucket %v (want instance_issues 30 from both)", replicaAnswer, bucketAnswer)
	}
	// Older than the newest remembered ping: the bucket decides (first-ping answer).
	bucketReads := stateReads(t, h, "bucket")
	if a := post("rep-a", t0.Add(-week), 1); len(a) != 1 {
		t.Errorf("out-of-order ping older than the history answered %v", a)
	}
	if stateReads(t, h, "bucket") != bucketReads+1 {
		t.Error("an out-of-order ping was not read from the bucket")
	}
}

func stateReads(tb testing.TB, h *harness, source string) float64 {
	tb.Helper()
	return testinfra.Metric(tb, h.reg, "serviceping_gateway_devops_state_reads_total", map[string]string{"source": source})
}

// scoreOutcomes reads serviceping_gateway_devops_scores_total{outcome}.
func scoreOutcomes(tb testing.TB, h *harness, outcome string) float64 {
	tb.Helper()
	return testinfra.Metric(tb, h.reg, "serviceping_gateway_devops_scores_total", map[string]string{"outcome": outcome})
}
