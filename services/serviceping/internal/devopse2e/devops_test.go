package devopse2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/serviceping/internal/client"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipelinetest"
)

// TestMain lets the test binary serve as the embedded engine's process.
func TestMain(m *testing.M) { pipelinetest.Main(m) }

// features in GitLab's order, written out again here: the test computes
// its expectations from docs/devops-score.md, not from the package.
var features = []string{"issues", "notes", "milestones", "boards", "merge_requests", "ci_pipelines",
	"environments", "deployments", "projects_prometheus_active", "service_desk_issues"}

// fleetPing is what one ping of the fleet says about the scored features.
type fleetPing struct {
	uuid     string
	recorded time.Time
	users    *float64           // nil: no active_user_count in the payload
	counts   map[string]float64 // counts.<name>; a missing name is absent
}

// answer is a parsed conv_index.
type answer map[string]float64

// fleet builds the pings of round r (0-based, a week apart, the last one
// recorded a day ago): regular instances grow their counters at
// instance-specific rates; the special ones are the documented edge cases.
func fleet(base time.Time, r int) []fleetPing {
	var out []fleetPing
	at := base.AddDate(0, 0, 7*r)
	users := func(n float64) *float64 { return &n }
	for i := range 12 {
		c := map[string]float64{"projects": float64(20 + i)}
		for f, name := range features {
			switch name {
			case "projects_prometheus_active":
				c[name] = float64(i % 5)
			case "service_desk_issues":
				c[name] = 40 // never grows anywhere: its leader is 0
			default:
				// grows by (i+1)·(f+1)·7 a week: hand-checkable
				c[name] = float64(1000 + r*(i+1)*(f+1)*7)
			}
		}
		out = append(out, fleetPing{uuid: fmt.Sprintf("fleet-%02d", i), recorded: at, users: users(float64(10 + i)), counts: c})
	}
	// reset: counters go down in round 2 (a restored backup).
	reset := map[string]float64{"projects": 10, "projects_prometheus_active": 5, "service_desk_issues": 40}
	for _, name := range features[:8] {
		reset[name] = []float64{500, 570, 100, 170}[r]
	}
	out = append(out, fleetPing{uuid: "edge-reset", recorded: at, users: users(7), counts: reset})
	// zero users in round 2, none reported in round 3.
	zero := map[string]float64{"projects": 4, "projects_prometheus_active": 1}
	for _, name := range features {
		if _, ok := zero[name]; !ok {
			zero[name] = float64(100 + 70*r)
		}
	}
	u := users(5)
	switch r {
	case 2:
		u = users(0)
	case 3:
		u = nil
	}
	out = append(out, fleetPing{uuid: "edge-users", recorded: at, users: u, counts: zero})
	return out
}

// late is edge-late's pings: rounds 0 and 1 as usual, then in round 2 a
// ping recorded 3 days before its round-1 ping (arriving after it).
func late(base time.Time, r int) (fleetPing, bool) {
	at := base.AddDate(0, 0, 7*r)
	if r == 2 {
		at = base.AddDate(0, 0, 7-3)
	}
	if r > 2 {
		return fleetPing{}, false
	}
	n := 12.0
	c := map[string]float64{"projects": 3, "projects_prometheus_active": 3}
	for _, name := range features {
		if _, ok := c[name]; !ok {
			c[name] = []float64{10, 80, 38}[r]
		}
	}
	return fleetPing{uuid: "edge-late", recorded: at, users: &n, counts: c}, true
}

// body turns a fleet ping into a full-size payload (GitLab's key tree,
// ~2,600 leaves) carrying the fleet's values.
func body(t *testing.T, g *pinggen.Generator, n int, fp fleetPing) []byte {
	t.Helper()
	p := g.Ping(pinggen.Spec{Instance: n})
	p["uuid"] = fp.uuid
	p["recorded_at"] = fp.recorded.UTC().Format("2006-01-02 15:04:05 UTC")
	delete(p, "active_user_count")
	if fp.users != nil {
		p["active_user_count"] = *fp.users
	}
	counts, _ := p["counts"].(map[string]any)
	if counts == nil {
		counts = map[string]any{}
		p["counts"] = counts
	}
	for _, name := range append(slices.Clone(features), "projects") {
		delete(counts, name)
		if v, ok := fp.counts[name]; ok {
			counts[name] = v
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expectInstance computes instance_<f> of cur against prev as the docs
// page says.
func expectInstance(prev, cur fleetPing) map[string]float64 {
	out := map[string]float64{}
	days := math.Max(cur.recorded.Sub(prev.recorded).Hours()/24, 1)
	for _, name := range features {
		v := 0.0
		if name == "projects_prometheus_active" {
			if p, ok := cur.counts["projects"]; ok && p > 0 {
				v = math.Min(100, 100*cur.counts[name]/p)
			}
		} else if cur.users != nil && *cur.users > 0 {
			pv, ok1 := prev.counts[name]
			cv, ok2 := cur.counts[name]
			if ok1 && ok2 {
				v = math.Max(0, cv-pv) * 30 / days / *cur.users
			}
		}
		out[name] = v
	}
	return out
}

// expectLeaders: per feature the 90th percentile (linear between closest
// ranks) of the population's values, the maximum below 10 instances.
func expectLeaders(pop []map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, name := range features {
		var xs []float64
		for _, v := range pop {
			xs = append(xs, v[name])
		}
		sort.Float64s(xs)
		switch n := len(xs); {
		case n == 0:
			out[name] = 0
		case n < 10:
			out[name] = xs[n-1]
		default:
			h := float64(n-1) * 0.9
			lo := int(h)
			out[name] = xs[lo] + (h-float64(lo))*(xs[lo+1]-xs[lo])
		}
	}
	return out
}

func expectAnswer(inst, leaders map[string]float64) answer {
	a := answer{}
	for _, name := range features {
		pct := 0.0
		if leaders[name] > 0 {
			pct = math.Min(100, 100*inst[name]/leaders[name])
		}
		a["leader_"+name], a["instance_"+name], a["percentage_"+name] = leaders[name], inst[name], pct
	}
	return a
}

// post sends a ping and returns the conv_index object.
func post(t *testing.T, s client.Sender, b []byte) (answer, []byte) {
	t.Helper()
	resp, err := s.Send(context.Background(), b, false)
	if err != nil || resp.Status != http.StatusCreated {
		t.Fatalf("post: %v %d %s", err, resp.Status, resp.Body)
	}
	var out struct {
		ConvIndex map[string]json.RawMessage `json:"conv_index"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatalf("answer %s: %v", resp.Body, err)
	}
	a := answer{}
	for k, v := range out.ConvIndex {
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			t.Fatalf("%s = %s is not a number", k, v)
		}
		a[k] = f
	}
	return a, resp.Body
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// checkAnswer compares the 30 fields with want and checks none is
// negative or NaN.
func checkAnswer(t *testing.T, who string, got, want answer) {
	t.Helper()
	if len(got) != 31 {
		t.Errorf("%s: %d fields, want usage_data_id and 30 score fields: %v", who, len(got), got)
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || !near(g, w) {
			t.Errorf("%s: %s = %v (present %v), want %v", who, k, g, ok, w)
		}
	}
	for k, v := range got {
		if math.IsNaN(v) || v < 0 {
			t.Errorf("%s: %s = %v", who, k, v)
		}
	}
}

// TestDevOpsScore seeds a fleet through the all-in-one's gateway, round by
// round, and checks every answer against the formula computed here, then
// the same figures in serviceping.devops_scores and mart_devops_score.
func TestDevOpsScore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	p := pipelinetest.Start(t, map[string]string{
		"GATEWAY_RATE_PER_UUID": "0", "GATEWAY_RATE_PER_IP": "0",
		// The test refreshes the leaders itself and wants them read at once.
		"LOADER_DEVOPS_LEADERS_INTERVAL": "0", "GATEWAY_DEVOPS_LEADERS_TTL": "0s",
	})
	conn := pipelinetest.Conn(t, p)
	g, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	sender := client.Sender{GatewayURL: p.GatewayURL}
	base := time.Now().UTC().Truncate(time.Hour).AddDate(0, 0, -22)

	last := map[string]fleetPing{}                // uuid → latest ping (by recorded_at)
	history := map[string][]fleetPing{}           // uuid → every ping sent
	answers := map[string]answer{}                // uuid|recorded → the answer
	latestInst := map[string]map[string]float64{} // uuid → instance values of its latest score
	scored, posted := 0, 0
	var leaders map[string]float64

	for r := 0; r < 4; r++ {
		pings := fleet(base, r)
		if lp, ok := late(base, r); ok {
			pings = append(pings, lp)
		}
		for n, fp := range pings {
			got, raw := post(t, sender, body(t, g, n, fp))
			posted++
			key := fp.uuid + "|" + fp.recorded.String()
			var prev *fleetPing
			for i := range history[fp.uuid] {
				h := &history[fp.uuid][i]
				if h.recorded.Before(fp.recorded) && (prev == nil || h.recorded.After(prev.recorded)) {
					prev = h
				}
			}
			history[fp.uuid] = append(history[fp.uuid], fp)
			if prev == nil {
				if len(got) != 1 || got["usage_data_id"] <= 0 {
					t.Errorf("round %d %s: first ping answered %v, want usage_data_id only", r, fp.uuid, got)
				}
				answers[key] = got
				continue
			}
			inst := expectInstance(*prev, fp)
			want := expectAnswer(inst, leaders)
			checkAnswer(t, fmt.Sprintf("round %d %s", r, fp.uuid), got, want)
			answers[key] = got
			scored++
			if l, ok := last[fp.uuid]; !ok || fp.recorded.After(l.recorded) {
				latestInst[fp.uuid] = inst
			}
			// A resubmission gets the first answer again, byte for byte.
			if n == 0 {
				_, again := post(t, sender, body(t, g, n, fp))
				if !bytes.Equal(raw, again) {
					t.Errorf("round %d: resubmitted ping answered\n%s\nfirst time\n%s", r, again, raw)
				}
			}
			if l, ok := last[fp.uuid]; !ok || fp.recorded.After(l.recorded) {
				last[fp.uuid] = fp
			}
		}
		for _, fp := range pings {
			if l, ok := last[fp.uuid]; !ok || fp.recorded.After(l.recorded) {
				last[fp.uuid] = fp
			}
		}
		// The round is in the warehouse (and so remembered by the enricher),
		// then the loader refreshes the leaders from it, as its periodic job
		// does; the gateway sees them through its watch of the bucket.
		deadline, _ := ctx.Deadline()
		chtest.WaitCount(t, conn, time.Until(deadline), uint64(posted), "SELECT count() FROM serviceping.pings_latest WHERE startsWith(uuid, 'fleet-') OR startsWith(uuid, 'edge-')")
		chtest.WaitCount(t, conn, time.Until(deadline), uint64(scored), "SELECT count() FROM serviceping.devops_scores_latest")
		l, err := p.RefreshDevOpsLeaders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var pop []map[string]float64
		for _, v := range latestInst {
			pop = append(pop, v)
		}
		leaders = expectLeaders(pop)
		if l.Instances != len(pop) {
			t.Errorf("after round %d the leaders were computed over %d instances, want %d", r, l.Instances, len(pop))
		}
		t.Logf("after round %d: %d pings, %d scored; leaders over %d instances: %v", r, posted, scored, len(pop), leaders)
	}
	if leaders["service_desk_issues"] != 0 || leaders["issues"] == 0 {
		t.Errorf("the fleet does not exercise a zero leader and a positive one: %v", leaders)
	}

	t.Run("warehouse", func(t *testing.T) {
		rows := scoreRows(t, ctx, conn, "SELECT uuid, toString(recorded_at), %s FROM serviceping.devops_scores_latest")
		if len(rows) != scored {
			t.Fatalf("devops_scores has %d rows, want %d", len(rows), scored)
		}
		for key, got := range rows {
			want, ok := answers[key]
			if !ok {
				t.Errorf("unexpected row %s", key)
				continue
			}
			delete(want, "usage_data_id")
			checkAnswer(t, "devops_scores "+key, withID(got), withID(want))
		}
	})

	t.Run("mart", func(t *testing.T) {
		schema := fmt.Sprintf("devops_mart_%d", os.Getpid())
		runDBT(t, ctx, p.ClickHouseURL, schema)
		rows := scoreRows(t, ctx, conn, "SELECT uuid, toString(recorded_at), %s FROM "+schema+".mart_devops_score")
		// want: each uuid's last score of each month.
		want := map[string]string{} // uuid|month → key of the last score
		for key, a := range answers {
			if len(a) == 1 {
				continue
			}
			uuid, rec, _ := strings.Cut(key, "|")
			at, err := time.Parse("2006-01-02 15:04:05 -0700 MST", rec)
			if err != nil {
				t.Fatal(err)
			}
			mk := uuid + "|" + at.Format("2006-01")
			if cur, ok := want[mk]; !ok || cur < key {
				want[mk] = key
			}
		}
		if len(rows) != len(want) {
			t.Errorf("mart_devops_score has %d rows, want %d (instance × month)", len(rows), len(want))
		}
		for _, key := range want {
			got, ok := rows[key]
			if !ok {
				t.Errorf("mart_devops_score has no row for %s", key)
				continue
			}
			w := answers[key]
			checkAnswer(t, "mart "+key, withID(got), w)
		}
		// overall_score and the steps, as GitLab's page derives them.
		var bad uint64
		if err := conn.QueryRow(ctx, "SELECT countIf(abs(overall_score - (percentage_issues + percentage_notes + percentage_milestones + percentage_boards + "+
			"percentage_merge_requests + percentage_ci_pipelines + percentage_environments + percentage_deployments + percentage_projects_prometheus_active + "+
			"percentage_service_desk_issues) / 10) > 1e-9 OR abs(step_plan - (percentage_milestones + percentage_boards) / 2) > 1e-9 "+
			"OR abs(step_feedback - (percentage_projects_prometheus_active + percentage_service_desk_issues) / 2) > 1e-9) FROM "+schema+".mart_devops_score").Scan(&bad); err != nil {
			t.Fatal(err)
		}
		if bad != 0 {
			var dump string
			_ = conn.QueryRow(ctx, "SELECT toString(groupArray(tuple(uuid, overall_score, step_plan, step_feedback, percentage_milestones, percentage_boards, percentage_projects_prometheus_active, percentage_service_desk_issues))) FROM "+schema+".mart_devops_score").Scan(&dump)
			t.Errorf("%d mart rows whose overall score or steps are not the means of their percentages: %s", bad, dump)
		}
	})
}

// withID adds the usage_data_id the stored rows do not repeat, so that
// checkAnswer's field count holds.
func withID(a answer) answer {
	out := answer{"usage_data_id": 1}
	for k, v := range a {
		if k != "usage_data_id" {
			out[k] = v
		}
	}
	return out
}

// scoreRows reads uuid, recorded_at and the 30 values; query has one %s
// for the value columns. Keys are uuid|recorded_at as the test's keys.
func scoreRows(t *testing.T, ctx context.Context, conn driver.Conn, query string) map[string]answer {
	t.Helper()
	var cols []string
	for _, f := range features {
		cols = append(cols, "leader_"+f, "instance_"+f, "percentage_"+f)
	}
	rs, err := conn.Query(ctx, fmt.Sprintf(query, strings.Join(cols, ", ")))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := map[string]answer{}
	for rs.Next() {
		var uuid, rec string
		vals := make([]float64, len(cols))
		dst := []any{&uuid, &rec}
		for i := range vals {
			dst = append(dst, &vals[i])
		}
		if err := rs.Scan(dst...); err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse("2006-01-02 15:04:05.000", rec)
		if err != nil {
			t.Fatal(err)
		}
		a := answer{}
		for i, c := range cols {
			a[c] = vals[i]
		}
		out[uuid+"|"+at.String()] = a
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// runDBT builds mart_devops_score and what it reads with the repository's
// scripts/dbt.sh (what `make dbt` runs), models in schema.
func runDBT(t *testing.T, ctx context.Context, clickhouseURL, schema string) {
	t.Helper()
	testinfra.Env(t, "SERVICEPING_DBT")
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
	tmp := t.TempDir()
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "scripts", "dbt.sh"), "build", "--select", "+mart_devops_score", "--indirect-selection", "cautious")
	cmd.Env = append(os.Environ(), "CLICKHOUSE_URL="+clickhouseURL, "DBT_CLICKHOUSE_SCHEMA="+schema,
		"DBT_TARGET_PATH="+filepath.Join(tmp, "target"), "DBT_LOG_PATH="+filepath.Join(tmp, "logs"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dbt build: %v\n%s", err, out)
	}
}
