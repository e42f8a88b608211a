package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/services/collector/internal/instancedb"
	"github.com/serviceping/serviceping/services/collector/internal/testdeps"
)

var update = flag.Bool("update", false, "rewrite golden files")

// ref is the fixed "now" of the seeded instance: a Sunday, mid-afternoon.
var ref = time.Date(2025, 6, 15, 14, 30, 0, 0, time.UTC)

const repoTestdata = "../../../testdata/collector"

func fixedTopology(context.Context) map[string]any {
	return map[string]any{"duration_s": 0.001, "failures": []any{}, "nodes": []any{map[string]any{"node_cpus": 2}}}
}

// seededCollector returns a Collector over a freshly seeded instance (PostgreSQL
// database + Redis key space of its own) reading definitionsDir, with the
// demo events tracked.
func seededCollector(tb testing.TB, definitionsDir string, builds int) (*Collector, context.Context) {
	tb.Helper()
	col, ctx := seededInstance(tb, definitionsDir, builds, nil)
	seedEvents(tb, col)
	return col, ctx
}

// seededInstance is seededCollector without events; mutate (may be nil)
// adjusts the configuration before the collector starts.
func seededInstance(tb testing.TB, definitionsDir string, builds int, mutate func(*Config)) (*Collector, context.Context) {
	tb.Helper()
	ctx := context.Background()
	dbURL, pool := testdeps.Postgres(tb)
	if err := instancedb.Apply(ctx, pool); err != nil {
		tb.Fatal(err)
	}
	if _, err := instancedb.Seed(ctx, pool, instancedb.Size{Builds: builds}, ref); err != nil {
		tb.Fatal(err)
	}
	_, prefix := testdeps.Redis(tb)
	var cfg Config
	if _, err := cfg.LoadFile(filepath.Join(repoTestdata, "config.yml")); err != nil {
		tb.Fatal(err)
	}
	cfg.Enabled = true
	cfg.DefinitionsDir = definitionsDir
	cfg.MappingFile = filepath.Join(repoTestdata, "instrumentations.yml")
	cfg.KnownEvents = filepath.Join(repoTestdata, "known_events.yml")
	cfg.License = filepath.Join(repoTestdata, "license.yml")
	cfg.DatabaseURL = dbURL
	cfg.RedisURL = testdeps.RedisURL(tb)
	cfg.RedisPrefix = prefix
	cfg.GatewayURL = "http://127.0.0.1:1"
	cfg.DataDir = tb.TempDir()
	cfg.MetricTimeout = 30 * time.Second
	cfg.StatementTimeout = 15 * time.Second
	cfg.Concurrency = 4
	cfg.SubmitAttempts = 1
	cfg.Instance.Hostname = "gitlab.example.com"
	if mutate != nil {
		mutate(&cfg)
	}
	col, err := New(cfg, Deps{Now: func() time.Time { return ref }, Topology: fixedTopology})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(col.Close)
	return col, ctx
}

// seedEvents tracks a fixed set of events at fixed times.
func seedEvents(tb testing.TB, a *Collector) {
	tb.Helper()
	ctx := context.Background()
	t := a.tracker
	defer func() { t.Now = a.now }()
	lastWeek := ref.AddDate(0, 0, -9)    // inside the last complete ISO week
	threeWeeks := ref.AddDate(0, 0, -20) // inside the last 4 weeks only
	hll := []string{"users_creating_epics", "users_viewing_analytics_group_devops_adoption", "i_analytics_dev_ops_score",
		"g_analytics_contribution", "i_code_review_user_create_mr", "i_code_review_user_approve_mr"}
	for i, ev := range hll {
		t.Now = func() time.Time { return lastWeek }
		for u := 1; u <= 10+i*3; u++ {
			must(tb, t.TrackUnique(ctx, ev, "user", fmt.Sprint(u+i)))
		}
		t.Now = func() time.Time { return threeWeeks }
		for u := 100; u < 100+i+2; u++ {
			must(tb, t.TrackUnique(ctx, ev, "user", fmt.Sprint(u)))
		}
	}
	internal := []string{"internal_events_cli_used", "project_action", "issue_created_via_api", "mr_merged_via_ui"}
	for i, ev := range internal {
		for _, at := range []time.Time{lastWeek, threeWeeks, ref} {
			t.Now = func() time.Time { return at }
			must(tb, t.Increment(ctx, ev, int64(i+1)))
			for u := 1; u <= 5+i; u++ {
				must(tb, t.TrackUnique(ctx, ev, "user", fmt.Sprint(u*(i+1))))
				must(tb, t.TrackUnique(ctx, ev, "project", fmt.Sprint(u%3)))
			}
		}
	}
	t.Now = func() time.Time { return ref }
	for i, ev := range []string{"pushes", "design_management_designs_create", "web_ide_commits", "snippet_editor_edit", "pod_logs_usages_total", "wiki_pages_create", "forwards"} {
		for range i + 1 {
			must(tb, t.Increment(ctx, ev, 1))
		}
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func build(tb testing.TB, a *Collector, ctx context.Context) (*Payload, []byte) {
	tb.Helper()
	res, err := a.Build(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res.Payload); err != nil {
		tb.Fatal(err)
	}
	return res, buf.Bytes()
}

func TestSeededPayloadGolden(t *testing.T) {
	t.Parallel()
	col, ctx := seededCollector(t, filepath.Join(repoTestdata, "metrics"), 5_000)
	if n := len(col.Definitions().Problems); n != 0 {
		t.Fatalf("testdata definitions have %d problems: %v", n, col.Definitions().Problems)
	}
	emitted := 0
	for _, m := range col.Definitions().Metrics {
		if m.Emitted() {
			emitted++
		}
	}
	if emitted < 150 {
		t.Fatalf("only %d emitted metrics in testdata", emitted)
	}
	res, got := build(t, col, ctx)
	// Only the Prometheus metrics may fail: no Prometheus is configured.
	var failed []string
	for _, m := range res.Metrics {
		if m.Error != "" {
			failed = append(failed, m.Name)
		}
	}
	if strings.Join(failed, ",") != "settings.gitaly_apdex,topology_nodes_up" {
		t.Errorf("failed metrics: %v", res.Metrics)
	}
	for _, f := range []string{"uuid", "hostname", "version", "installation_type", "recorded_at"} {
		if _, ok := res.Payload[f]; !ok {
			t.Errorf("identity field %s missing", f)
		}
	}
	golden := filepath.Join("testdata", "payload.golden.json")
	if *update {
		must(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Fatalf("payload differs from %s (run with -update after checking):\n%s", golden, diff(t, want, got))
	}
}

func diff(t *testing.T, want, got []byte) string {
	var w, g map[string]any
	must(t, json.Unmarshal(want, &w))
	must(t, json.Unmarshal(got, &g))
	fw, fg := map[string]any{}, map[string]any{}
	flatten("", w, fw)
	flatten("", g, fg)
	var out []string
	for k, v := range fg {
		if wv, ok := fw[k]; !ok || fmt.Sprint(wv) != fmt.Sprint(v) {
			out = append(out, fmt.Sprintf("%s: want %v got %v", k, fw[k], v))
		}
	}
	for k := range fw {
		if _, ok := fg[k]; !ok {
			out = append(out, k+": missing")
		}
	}
	if len(out) > 20 {
		out = out[:20]
	}
	return strings.Join(out, "\n")
}

func flatten(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = v
		return
	}
	for k, c := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		flatten(p, c, out)
	}
}

// A definition with broken SQL gets -1; every other metric keeps its value;
// an unparseable definition is reported and skipped.
func TestBrokenSQLIsolated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	must(t, os.CopyFS(dir, os.DirFS(filepath.Join(repoTestdata, "metrics"))))
	broken := definition("counts.broken_sql", "all", "database", "optional",
		`instrumentation_class: DatabaseMetric
options: {operation: count, table: issues, where: "non_existent_attribute = 1"}
`)
	must(t, os.WriteFile(filepath.Join(dir, "counts_all", "zz_broken_sql.yml"), []byte(broken), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "counts_all", "zz_garbage.yml"), []byte("key_path: [oops"), 0o644))
	col, ctx := seededCollector(t, dir, 5_000)
	if p := col.Definitions().Problems; len(p) != 1 || p[0].File != "counts_all/zz_garbage.yml" {
		t.Fatalf("problems %v", p)
	}
	res, _ := build(t, col, ctx)
	got := map[string]any{}
	flatten("", res.Payload, got)
	if got["counts.broken_sql"] != -1 {
		t.Fatalf("broken metric = %v", got["counts.broken_sql"])
	}
	var goldenPayload map[string]any
	b, err := os.ReadFile(filepath.Join("testdata", "payload.golden.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &goldenPayload))
	want := map[string]any{}
	flatten("", goldenPayload, want)
	delete(got, "counts.broken_sql")
	if len(got) != len(want) {
		t.Fatalf("%d leaves, golden has %d", len(got), len(want))
	}
	for k, v := range want {
		gv, _ := json.Marshal(got[k])
		wv, _ := json.Marshal(v)
		if string(gv) != string(wv) {
			t.Errorf("%s = %s, golden %s", k, gv, wv)
		}
	}
	var brokenTiming bool
	for _, m := range res.Metrics {
		if m.Name == "counts.broken_sql" && strings.Contains(m.Error, "non_existent_attribute") && m.TimeElapsed > 0 {
			brokenTiming = true
		}
	}
	if !brokenTiming {
		t.Error("broken metric's timing/error not recorded")
	}
}

func TestDisabledSwitch(t *testing.T) {
	t.Parallel()
	cfg := Config{Enabled: false, DefinitionsDir: filepath.Join(repoTestdata, "metrics"), GatewayURL: "http://127.0.0.1:1",
		MetricTimeout: time.Second, Concurrency: 1, SubmitAttempts: 1, DataDir: t.TempDir()}
	col, err := New(cfg, Deps{})
	must(t, err)
	defer col.Close()
	if _, err := col.Build(context.Background()); err != ErrDisabled {
		t.Fatalf("build: %v", err)
	}
	if _, err := col.Send(context.Background()); err != ErrDisabled {
		t.Fatalf("send: %v", err)
	}
}

func TestPrivacy(t *testing.T) {
	t.Parallel()
	col, ctx := seededCollector(t, filepath.Join(repoTestdata, "metrics"), 200)
	col.builder.Privacy.Drop = []string{"hostname"}
	col.builder.Privacy.Hash = []string{"licensee.Name", "licensee.Email"}
	res, _ := build(t, col, ctx)
	if _, ok := res.Payload["hostname"]; ok {
		t.Error("hostname not dropped")
	}
	lic := res.Payload["licensee"].(map[string]any)
	if lic["Name"] == "Example Corp Admin" || len(lic["Name"].(string)) != 64 || lic["Company"] != "Example Corp" {
		t.Errorf("licensee %v", lic)
	}
	p, err := col.PingOf(res)
	must(t, err)
	if p.Hostname != "" || bytes.Contains(p.Payload, []byte("gitlab.example.com")) {
		t.Error("hostname leaves the instance")
	}
}

// BenchmarkFullPayload computes the full payload on a seeded instance with
// 1M rows in ci_builds (its largest table).
func BenchmarkFullPayload(b *testing.B) {
	col, ctx := seededCollector(b, filepath.Join(repoTestdata, "metrics"), 1_000_000)
	b.ResetTimer()
	for b.Loop() {
		res, err := col.Build(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if res.Failed > 2 {
			b.Fatalf("%d metrics failed", res.Failed)
		}
	}
}
