package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/serviceping/serviceping/pkg/devopsscore"
	"github.com/serviceping/serviceping/pkg/streams"
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

// scoreOutcomes reads serviceping_gateway_devops_scores_total{outcome}.
func scoreOutcomes(tb testing.TB, h *harness, outcome string) float64 {
	tb.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "serviceping_gateway_devops_scores_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
