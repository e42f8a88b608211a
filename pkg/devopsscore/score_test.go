package devopsscore

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

// snap builds a snapshot; users < 0 leaves active_user_count out, and so
// does a negative counter.
func snap(id string, at time.Time, users float64, counters map[int]float64) Snapshot {
	s := Snapshot{PingID: id, RecordedAt: at}
	if users >= 0 {
		s.SetActiveUsers(users)
	}
	for i, v := range counters {
		s.SetCounter(i, v)
	}
	return s
}

// TestInstanceValues: every figure below is computed by hand from the
// formula in docs/devops-score.md.
func TestInstanceValues(t *testing.T) {
	week := 7 * 24 * time.Hour
	for _, tc := range []struct {
		name       string
		prev, cur  Snapshot
		feature    int
		want       float64
		wantReason string
	}{
		// 100 → 170 in 7 days: 70 × 30/7 = 300 a month, over 10 users = 30.
		{"growth per user", snap("a", t0, 10, map[int]float64{Issues: 100}), snap("b", t0.Add(week), 10, map[int]float64{Issues: 170}), Issues, 30, ""},
		// 60 new notes in 30 days over 12 users = 5.
		{"thirty days", snap("a", t0, 1, map[int]float64{Notes: 0}), snap("b", t0.Add(30*24*time.Hour), 12, map[int]float64{Notes: 60}), Notes, 5, ""},
		{"counter reset", snap("a", t0, 10, map[int]float64{Issues: 500}), snap("b", t0.Add(week), 10, map[int]float64{Issues: 100}), Issues, 0, "a counter that went down is no growth"},
		{"zero users", snap("a", t0, 10, map[int]float64{Issues: 1}), snap("b", t0.Add(week), 0, map[int]float64{Issues: 99}), Issues, 0, "no active users"},
		{"missing users", snap("a", t0, 10, map[int]float64{Issues: 1}), snap("b", t0.Add(week), -1, map[int]float64{Issues: 99}), Issues, 0, "no active_user_count"},
		{"missing counter", snap("a", t0, 10, nil), snap("b", t0.Add(week), 10, map[int]float64{Issues: 99}), Issues, 0, "the earlier ping lacks it"},
		{"fallback counter", snap("a", t0, 10, map[int]float64{Issues: -1}), snap("b", t0.Add(week), 10, map[int]float64{Issues: 99}), Issues, 0, "-1 is absent"},
		// Two pings an hour apart: the interval counts as one day, so
		// 2 new boards × 30 / 1 over 4 users = 15.
		{"short interval", snap("a", t0, 4, map[int]float64{Boards: 10}), snap("b", t0.Add(time.Hour), 4, map[int]float64{Boards: 12}), Boards, 15, ""},
		// 3 of 12 projects = 25 %.
		{"prometheus share", snap("a", t0, 1, nil), snap("b", t0.Add(week), 0, map[int]float64{ProjectsPrometheusActive: 3, Projects: 12}), ProjectsPrometheusActive, 25, ""},
		{"prometheus no projects", snap("a", t0, 1, nil), snap("b", t0.Add(week), 5, map[int]float64{ProjectsPrometheusActive: 3, Projects: 0}), ProjectsPrometheusActive, 0, ""},
		{"prometheus capped", snap("a", t0, 1, nil), snap("b", t0.Add(week), 5, map[int]float64{ProjectsPrometheusActive: 30, Projects: 12}), ProjectsPrometheusActive, 100, ""},
		{"huge counters stay finite", snap("a", t0, 1, map[int]float64{Issues: 0}), snap("b", t0.Add(time.Hour), 1e-300, map[int]float64{Issues: math.MaxFloat64}), Issues, 0, "an overflow is 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := InstanceValues(tc.prev, tc.cur)
			if math.Abs(got[tc.feature]-tc.want) > 1e-9 {
				t.Errorf("instance value %v, want %v %s", got[tc.feature], tc.want, tc.wantReason)
			}
			for f, v := range got {
				if !(v >= 0) || math.IsInf(v, 0) {
					t.Errorf("feature %d = %v", f, v)
				}
			}
		})
	}
}

func TestPercentages(t *testing.T) {
	var inst, lead Values
	inst[Issues], lead[Issues] = 3.2, 10.2 // GitLab's spec: 31.37 %
	inst[Notes], lead[Notes] = 20, 10      // above the leader: capped
	inst[Boards], lead[Boards] = 5, 0      // leader 0
	got := Percentages(inst, lead)
	if math.Abs(got[Issues]-31.372549019607845) > 1e-12 || got[Notes] != 100 || got[Boards] != 0 {
		t.Errorf("percentages = %v", got)
	}
}

func TestComputeLeaders(t *testing.T) {
	pop := func(xs ...float64) []Values {
		out := make([]Values, len(xs))
		for i, x := range xs {
			out[i][Issues] = x
		}
		return out
	}
	for _, tc := range []struct {
		name string
		pop  []Values
		want float64
	}{
		{"none", nil, 0},
		{"fewer than ten: maximum", pop(1, 9, 3), 9},
		// ten values 1..10: h = 9 × 0.9 = 8.1 → 9 + 0.1 × (10 − 9) = 9.1
		{"ten", pop(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 9.1},
		// eleven values 0..10: h = 10 × 0.9 = 9 → exactly 9
		{"eleven", pop(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := ComputeLeaders(tc.pop, t0)
			if math.Abs(l.Values[Issues]-tc.want) > 1e-9 || l.Instances != len(tc.pop) || !l.ComputedAt.Equal(t0) {
				t.Errorf("leaders = %+v, want issues %v over %d", l, tc.want, len(tc.pop))
			}
		})
	}
}

func TestDecide(t *testing.T) {
	week := 7 * 24 * time.Hour
	leaders := Leaders{Instances: 1}
	for f := range leaders.Values {
		leaders.Values[f] = 60
	}
	p1 := snap("p1", t0, 10, map[int]float64{Issues: 100})
	p2 := snap("p2", t0.Add(week), 10, map[int]float64{Issues: 170})
	var st State

	d := st.Decide(p1, leaders)
	if d.Score != nil || d.Seen {
		t.Fatalf("first ping: %+v, want no score", d)
	}
	st, _ = st.With(p1, d.Score)
	d = st.Decide(p2, leaders)
	if d.Score == nil || d.Score.Instance[Issues] != 30 || d.Score.Percentage[Issues] != 50 || d.Score.PreviousPingID != "p1" {
		t.Fatalf("second ping: %+v", d.Score)
	}
	st, changed := st.With(p2, d.Score)
	if !changed {
		t.Fatal("p2 not remembered")
	}
	if _, changed := st.With(p2, nil); changed {
		t.Error("remembering p2 twice changed the state")
	}

	// A resubmission gets the first answer, whatever the leaders are now.
	again := st.Decide(p2, Leaders{})
	if !again.Seen || again.Score == nil || again.Score.Percentage[Issues] != 50 {
		t.Errorf("resubmission: %+v", again)
	}
	// An out-of-order ping is scored against the latest one before it.
	mid := snap("mid", t0.Add(3*24*time.Hour), 10, map[int]float64{Issues: 130})
	if d := st.Decide(mid, leaders); d.Score == nil || d.Score.PreviousPingID != "p1" {
		t.Errorf("out-of-order ping: %+v", d.Score)
	}
	// Older than everything remembered: answered like a first ping.
	if d := st.Decide(snap("old", t0.Add(-week), 10, nil), leaders); d.Score != nil {
		t.Errorf("ping older than the history: %+v", d.Score)
	}
	// Only the KeepPings most recent are kept.
	for i := range KeepPings + 3 {
		st, _ = st.With(snap("w"+string(rune('a'+i)), t0.Add(time.Duration(i+2)*week), 1, nil), nil)
	}
	if len(st.Pings) != KeepPings || st.Pings[0].RecordedAt.After(st.Pings[1].RecordedAt) {
		t.Errorf("state keeps %d pings (want %d, oldest first)", len(st.Pings), KeepPings)
	}
}

func TestConvIndexAndProto(t *testing.T) {
	if got := string(AppendConvIndex(nil, 42, nil)); got != `{"usage_data_id":42}` {
		t.Errorf("first ping answer %s", got)
	}
	s := Score{PreviousPingID: "p", PreviousRecordedAt: t0, ActiveUsers: 10, LeadersInstances: 3}
	for f := range s.Leader {
		s.Leader[f], s.Instance[f], s.Percentage[f] = float64(f), float64(f)/2, 50
	}
	b := AppendConvIndex(nil, 7, &s)
	if want := `{"usage_data_id":7,"leader_issues":0,"instance_issues":0,"percentage_issues":50,"leader_notes":1,"instance_notes":0.5,"percentage_notes":50,`; string(b[:len(want)]) != want {
		t.Errorf("answer starts %s", b)
	}
	back := FromProto(s.ToProto())
	if back.PreviousPingID != "p" || !back.PreviousRecordedAt.Equal(t0) || back.Instance != s.Instance || back.Leader != s.Leader || back.Percentage != s.Percentage || !back.LeadersComputedAt.IsZero() {
		t.Errorf("proto round trip: %+v", back)
	}
	snapIn := snap("x", t0, 5, map[int]float64{Issues: 1, Projects: 4})
	gotSnap, gotScore := EntryFromProto(EntryProto(snapIn, &s))
	if gotSnap != snapIn || gotScore.Instance != s.Instance {
		t.Errorf("entry round trip: %+v %+v", gotSnap, gotScore)
	}
}
