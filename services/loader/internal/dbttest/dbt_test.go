package dbttest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/loader/internal/testpings"
	"github.com/serviceping/serviceping/services/loader/rows"
	"github.com/serviceping/serviceping/services/loader/warehouse"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

const (
	// numInstances installations ping weekly numWeeks times from
	// pinggen.Epoch (Monday 2026-01-05): four pings in January, two in
	// February.
	numInstances = 20
	numWeeks     = 6

	gitlabDotComUUID = "ea8bf810-1d6f-4a6a-b4fd-93e8cbd8b57f"
)

// generate builds the records of every generated ping, as the loader would
// from the enricher's envelopes. Installations 0 and 1 are GitLab.com and
// its staging (same uuid, different hostnames); the first licensed
// installation from 2 on has a license that expired before the pings
// (product tier Free whatever its edition).
func generate(t *testing.T) []rows.Record {
	t.Helper()
	g, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	expired := -1
	for i := 2; i < numInstances; i++ {
		if pinggen.InstanceOf(i).Plan != "" {
			expired = i
			break
		}
	}
	if expired < 0 {
		t.Fatal("no licensed generated installation")
	}
	var b rows.Builder
	var out []rows.Record
	for i := range numInstances {
		for w := range numWeeks {
			p := g.Ping(pinggen.Spec{Instance: i, Week: w})
			switch i {
			case 0:
				p["uuid"], p["hostname"] = gitlabDotComUUID, "gitlab.com"
			case 1:
				p["uuid"], p["hostname"] = gitlabDotComUUID, "staging.gitlab.com"
			case expired:
				p["license_expires_at"] = "2025-12-31"
			}
			payload, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := ping.ParseRecordedAt(p["recorded_at"].(string))
			if err != nil {
				t.Fatal(err)
			}
			ep, err := testpings.Enriched(payload, rec.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			r, err := b.Build(ep, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
	}
	return out
}

// TestDBTBuild loads the generated pings into a fresh warehouse database,
// runs `dbt build` over it and checks the models' figures.
func TestDBTBuild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dbt := testinfra.Env(t, "SERVICEPING_DBT")
	endpoint, err := url.Parse(chtest.Endpoint(t))
	if err != nil {
		t.Fatal(err)
	}

	recs := generate(t)
	srcDB := chtest.Database(t, "dbt_src")
	sink, err := warehouse.Open(ctx, chtest.URL(t, srcDB), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Write(ctx, rows.NewBatch(recs)); err != nil {
		t.Fatal(err)
	}
	// A re-delivery in a later batch: the rows are in the tables twice until
	// a merge; the models must see them once.
	var again []rows.Record
	for i := range 3 {
		again = append(again, recs[i*numWeeks+numWeeks-1])
	}
	if err := sink.Write(ctx, rows.NewBatch(again)); err != nil {
		t.Fatal(err)
	}

	// Twice: the first build creates the models, the second replaces the
	// existing tables (dbt-clickhouse's EXCHANGE TABLES path), as an
	// analyst's every later run does.
	martDB := chtest.Database(t, "dbt_analytics")
	for run := 1; run <= 2; run++ {
		t.Logf("dbt build #%d: %s", run, runDBT(ctx, t, dbt, endpoint, srcDB, martDB))
	}

	want := expectFigures(recs)
	conn := chtest.Conn(t, martDB)
	query := func(sql string, scan func(func(...any) error) error) {
		t.Helper()
		rs, err := conn.Query(ctx, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		defer rs.Close()
		for rs.Next() {
			if err := scan(rs.Scan); err != nil {
				t.Fatalf("%s: scan: %v", sql, err)
			}
		}
		if err := rs.Err(); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	t.Run("pings", func(t *testing.T) {
		if n := chtest.Count(t, conn, "SELECT count() FROM dim_ping_instance"); n != uint64(len(recs)) {
			t.Errorf("dim_ping_instance has %d rows, want %d (one per ping, re-delivery collapsed)", n, len(recs))
		}
		if n := chtest.Count(t, conn, "SELECT countIf(is_last_ping_of_month) FROM dim_ping_instance"); n != 2*numInstances {
			t.Errorf("%d last pings of month, want %d (%d installations × 2 months)", n, 2*numInstances, numInstances)
		}
		if n := chtest.Count(t, conn, "SELECT countIf(is_last_ping_of_week) FROM dim_ping_instance"); n != uint64(len(recs)) {
			t.Errorf("%d last pings of week, want %d (weekly pings)", n, len(recs))
		}
		if n := chtest.Count(t, conn, "SELECT uniqExact(dim_installation_id) FROM dim_ping_instance WHERE ping_delivery_type = 'SaaS'"); n != 2 {
			t.Errorf("%d SaaS installations, want 2 (gitlab.com and its staging)", n)
		}
	})

	t.Run("product tiers", func(t *testing.T) {
		got := map[string]uint64{}
		query("SELECT product_tier, uniqExact(dim_installation_id) FROM dim_ping_instance GROUP BY product_tier",
			func(scan func(...any) error) error {
				var tier string
				var n uint64
				err := scan(&tier, &n)
				got[tier] = n
				return err
			})
		if !maps.Equal(got, want.tiers) {
			t.Errorf("installations per product tier = %v, want %v", got, want.tiers)
		}
		if n := chtest.Count(t, conn, "SELECT count() FROM dim_ping_instance WHERE edition NOT IN ('CE', 'EE Free') AND product_tier = 'Free'"); n != numWeeks {
			t.Errorf("%d paid-edition pings are Free, want %d (the installation whose license expired)", n, numWeeks)
		}
	})

	t.Run("timeouts", func(t *testing.T) {
		if want.timeouts == 0 {
			t.Fatal("the generated pings have no -1 values")
		}
		n := chtest.Count(t, conn, "SELECT count() FROM stg_ping_metrics WHERE has_timed_out AND metric_value = 0 AND original_metric_value = -1")
		if n != want.timeouts {
			t.Errorf("%d timed-out metrics, want %d", n, want.timeouts)
		}
	})

	t.Run("monthly totals", func(t *testing.T) {
		got := map[totalKey]total{}
		query("SELECT toString(ping_month), key_path, product_tier, recorded_usage, reporting_instances FROM rpt_metric_monthly_totals WHERE startsWith(key_path, 'counts')",
			func(scan func(...any) error) error {
				var k totalKey
				var v total
				err := scan(&k.month, &k.key, &k.tier, &v.sum, &v.instances)
				got[k] = v
				return err
			})
		if len(want.totals) == 0 {
			t.Fatal("no expected totals")
		}
		bad := 0
		for _, k := range slices.SortedFunc(maps.Keys(want.totals), totalKey.compare) {
			if g, ok := got[k]; !ok || g != want.totals[k] {
				if bad++; bad <= 10 {
					t.Errorf("%v = %+v (present %v), want %+v", k, g, ok, want.totals[k])
				}
			}
		}
		for k := range got {
			if _, ok := want.totals[k]; !ok {
				if bad++; bad <= 10 {
					t.Errorf("%v: unexpected row %+v", k, got[k])
				}
			}
		}
		if bad > 0 {
			t.Fatalf("%d of %d totals differ", bad, len(want.totals))
		}
		t.Logf("%d month × metric × tier totals under counts* equal Go's; %d all-time installation-months were clamped at 0, %d counted a whole value after a timeout",
			len(want.totals), want.clamped, want.afterTimeout)
		if want.clamped == 0 || want.afterTimeout == 0 {
			t.Errorf("the data does not exercise clamping (%d) and timeouts before a difference (%d)", want.clamped, want.afterTimeout)
		}
	})
}

// runDBT runs `dbt build` on the repository's project against the endpoint,
// sources in srcDB, models in martDB, and fails unless every node
// succeeded. It returns dbt's summary line.
func runDBT(ctx context.Context, t *testing.T, dbt string, endpoint *url.URL, srcDB, martDB string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	project := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "dbt")
	if _, err := os.Stat(filepath.Join(project, "dbt_project.yml")); err != nil {
		t.Fatalf("dbt project: %v", err)
	}
	tmp := t.TempDir()
	cmd := exec.CommandContext(ctx, dbt, "build",
		"--project-dir", project, "--profiles-dir", project,
		"--target-path", filepath.Join(tmp, "target"), "--log-path", filepath.Join(tmp, "logs"),
		"--no-use-colors")
	cmd.Env = append(os.Environ(),
		"DBT_CLICKHOUSE_HOST="+endpoint.Hostname(),
		"DBT_CLICKHOUSE_PORT="+endpoint.Port(),
		"DBT_CLICKHOUSE_SCHEMA="+martDB,
		"DBT_CLICKHOUSE_SOURCE_DATABASE="+srcDB,
		"DBT_SEND_ANONYMOUS_USAGE_STATS=false",
		"DBT_TARGET=default",
	)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(tmp, "logs", "dbt.log"))
		t.Fatalf("dbt build: %v\n%s\n--- dbt.log (tail) ---\n%s", err, out, tail(string(log), 8000))
	}
	summary := regexp.MustCompile(`PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)(?: NO-OP=\d+)? TOTAL=(\d+)`).FindStringSubmatch(string(out))
	if summary == nil {
		t.Fatalf("dbt build: no summary line in its output:\n%s", out)
	}
	if summary[2] != "0" || summary[3] != "0" || summary[4] != "0" || summary[1] != summary[5] {
		t.Fatalf("dbt build: %s\n%s", summary[0], out)
	}

	// run_results.json: every model built, every test passed.
	data, err := os.ReadFile(filepath.Join(tmp, "target", "run_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var results struct {
		Results []struct {
			UniqueID string `json:"unique_id"`
			Status   string `json:"status"`
		} `json:"results"`
	}
	if err := json.Unmarshal(data, &results); err != nil {
		t.Fatalf("run_results.json: %v", err)
	}
	kinds := map[string]int{}
	for _, r := range results.Results {
		kind, _, _ := strings.Cut(r.UniqueID, ".")
		kinds[kind]++
		if r.Status != "success" && r.Status != "pass" {
			t.Errorf("dbt %s: status %s", r.UniqueID, r.Status)
		}
	}
	if kinds["model"] != 5 || kinds["test"] < 30 {
		t.Errorf("dbt built %v; want the 5 models and their tests", kinds)
	}
	return fmt.Sprintf("%s (%v)", summary[0], kinds)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type totalKey struct{ month, key, tier string }

func (a totalKey) compare(b totalKey) int {
	return strings.Compare(a.month+"|"+a.key+"|"+a.tier, b.month+"|"+b.key+"|"+b.tier)
}

type total struct {
	sum       float64
	instances uint64
}

type figures struct {
	tiers        map[string]uint64 // installations per product tier
	timeouts     uint64            // numeric -1 leaves
	totals       map[totalKey]total
	clamped      int // all-time installation-months whose difference was negative
	afterTimeout int // all-time installation-months with no previous value because it timed out
}

// expectFigures computes, from the records, what the models must hold.
// It restates the rules of dbt/README.md independently of the SQL.
func expectFigures(recs []rows.Record) figures {
	f := figures{tiers: map[string]uint64{}, totals: map[totalKey]total{}}

	// Last ping per installation and month.
	type instMonth struct{ inst, month string }
	last := map[instMonth]*rows.Record{}
	tierOf := map[string]string{} // installation → tier of its latest ping
	latest := map[string]time.Time{}
	for i := range recs {
		r := &recs[i]
		inst := r.Ping.UUID + "|" + r.Ping.Hostname
		k := instMonth{inst, r.Ping.RecordedAt.UTC().Format("2006-01") + "-01"}
		if cur := last[k]; cur == nil || r.Ping.RecordedAt.After(cur.Ping.RecordedAt) {
			last[k] = r
		}
		if r.Ping.RecordedAt.After(latest[inst]) {
			latest[inst], tierOf[inst] = r.Ping.RecordedAt, productTier(r.Ping)
		}
		for _, m := range r.AppendMetrics(nil) {
			if m.ValueKind == "number" && m.Value != nil && *m.Value == -1 {
				f.timeouts++
			}
		}
	}
	for _, tier := range tierOf {
		f.tiers[tier]++
	}

	// Monthly values of the counts* metrics, month by month so that an
	// all-time metric's previous value is known.
	keys := slices.SortedFunc(maps.Keys(last), func(a, b instMonth) int {
		return strings.Compare(a.month+a.inst, b.month+b.inst)
	})
	prev := map[string]float64{}  // inst|key_path → last kept value
	timedOut := map[string]bool{} // inst|key_path → its last value was -1
	for _, k := range keys {
		r := last[k]
		tier := productTier(r.Ping)
		for _, m := range r.AppendMetrics(nil) {
			if !strings.HasPrefix(m.KeyPath, "counts") || m.ValueKind != "number" || m.Value == nil {
				continue
			}
			tf := timeFrame(m.KeyPath)
			if tf != "28d" && tf != "all" {
				continue
			}
			v := *m.Value
			pk := k.inst + "|" + m.KeyPath
			if v < 0 { // -1 timeout and other fallbacks: left out
				timedOut[pk] = v == -1
				continue
			}
			monthly := v
			if tf == "all" {
				if _, ok := prev[pk]; !ok && timedOut[pk] {
					f.afterTimeout++
				}
				timedOut[pk] = false
				monthly = math.Max(v-prev[pk], 0)
				if v-prev[pk] < 0 {
					f.clamped++
				}
				prev[pk] = v
			}
			tk := totalKey{k.month, m.KeyPath, tier}
			t := f.totals[tk]
			t.sum += monthly
			t.instances++
			f.totals[tk] = t
		}
	}
	return f
}

// productTier is GitLab's rule: CE, "EE Free" or a license expired before
// the ping → Free; EE/EES → Starter; EEP → Premium; EEU → Ultimate.
func productTier(p rows.Ping) string {
	switch {
	case p.Edition == "CE", p.Edition == "EE Free":
		return "Free"
	case p.LicenseExpiresAt != nil && p.LicenseExpiresAt.Time().Before(p.RecordedAt.UTC().Truncate(24*time.Hour)):
		return "Free"
	case p.Edition == "EE", p.Edition == "EES":
		return "Starter"
	case p.Edition == "EEP":
		return "Premium"
	case p.Edition == "EEU":
		return "Ultimate"
	}
	return "Unknown"
}

// timeFrame is the README's rule for the counts* families.
func timeFrame(key string) string {
	switch {
	case strings.HasSuffix(key, "_weekly"), strings.HasPrefix(key, "counts_weekly."):
		return "7d"
	case strings.HasSuffix(key, "_monthly"), strings.HasPrefix(key, "counts_monthly."):
		return "28d"
	case strings.HasPrefix(key, "counts."):
		return "all"
	}
	return "none"
}
