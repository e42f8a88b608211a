package dashdeploytest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/serviceping/serviceping/pkg/chtest"
)

// grafanaDir is deploy/grafana: provisioning (data sources, the dashboard
// provider) and the dashboards JSON.
func grafanaDir() string { return filepath.Join(repoRoot(), "deploy", "grafana") }

// The data source types the dashboards use.
const (
	clickhouseType = "grafana-clickhouse-datasource"
	prometheusType = "prometheus"
)

// dataSource is a reference to a data source (a panel's or a target's).
type dataSource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// panel is a Grafana panel: rows hold theirs in panels when collapsed.
type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	DataSource *dataSource `json:"datasource"`
	GridPos    *struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"`
}

// target is one query of a panel: rawSql for ClickHouse, expr for
// Prometheus.
type target struct {
	RefID      string      `json:"refId"`
	DataSource *dataSource `json:"datasource"`
	RawSQL     string      `json:"rawSql"`
	Expr       string      `json:"expr"`
	Format     *int        `json:"format"`
	QueryType  string      `json:"queryType"`
	EditorType string      `json:"editorType"`
}

type dashboard struct {
	file          string
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
}

// query is a target with the panel it belongs to and its data source
// resolved (the target's, else the panel's).
type query struct {
	dashboard, panel string
	source           dataSource
	target
}

func (q query) String() string {
	return fmt.Sprintf("%s: panel %q, query %s", q.dashboard, q.panel, q.RefID)
}

// provisionedSources reads provisioning/datasources: uid → type.
func provisionedSources(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	decodeEach(t, filepath.Join(grafanaDir(), "provisioning", "datasources", "*.yaml"), yaml.Unmarshal, func(f string, p struct {
		APIVersion  int `yaml:"apiVersion"`
		DataSources []struct {
			Name, UID, Type string
		} `yaml:"datasources"`
	}) {
		if p.APIVersion != 1 {
			t.Errorf("%s: apiVersion %d, want 1", f, p.APIVersion)
		}
		for _, d := range p.DataSources {
			if d.UID == "" || d.Name == "" || d.Type == "" {
				t.Errorf("%s: data source %+v lacks a name, uid or type (the dashboards refer to uids)", f, d)
			}
			if _, dup := out[d.UID]; dup {
				t.Errorf("%s: data source uid %q provisioned twice", f, d.UID)
			}
			out[d.UID] = d.Type
		}
	})
	return out
}

// loadDashboards reads every dashboards/*.json, decoding strictly enough
// that a field of the wrong type fails.
func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	var out []dashboard
	decodeEach(t, filepath.Join(grafanaDir(), "dashboards", "*.json"), json.Unmarshal, func(f string, d dashboard) {
		d.file = filepath.Base(f)
		out = append(out, d)
	})
	return out
}

// queries lists every target of d, panels of rows included, with its
// data source resolved.
func (d dashboard) queries() []query {
	var out []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				q := query{dashboard: d.file, panel: p.Title, target: tg}
				switch {
				case tg.DataSource != nil:
					q.source = *tg.DataSource
				case p.DataSource != nil:
					q.source = *p.DataSource
				}
				out = append(out, q)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// TestGrafanaDashboardsJSON checks the dashboards as Grafana would load
// them from the provisioning: unique dashboard uids, unique panel ids
// within a dashboard, panels laid on the 24-column grid, every query
// naming a provisioned data source of its kind with a non-empty query.
func TestGrafanaDashboardsJSON(t *testing.T) {
	t.Parallel()
	sources := provisionedSources(t)
	for _, typ := range []string{clickhouseType, prometheusType} {
		if !slices.Contains(slices.Collect(mapsValues(sources)), typ) {
			t.Errorf("no %s data source provisioned", typ)
		}
	}
	uids := map[string]string{}
	kinds := map[string]int{}
	for _, d := range loadDashboards(t) {
		if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
			t.Errorf("%s: uid %q, title %q, schemaVersion %d: all are required", d.file, d.UID, d.Title, d.SchemaVersion)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s: uid %q is also %s's", d.file, d.UID, other)
		}
		uids[d.UID] = d.file
		ids := map[int]string{}
		var walk func([]panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				if p.ID <= 0 {
					t.Errorf("%s: panel %q has no id", d.file, p.Title)
				}
				if other, dup := ids[p.ID]; dup {
					t.Errorf("%s: panel id %d is both %q and %q", d.file, p.ID, other, p.Title)
				}
				ids[p.ID] = p.Title
				if g := p.GridPos; g == nil || g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
					t.Errorf("%s: panel %q: gridPos %+v off the 24-column grid", d.file, p.Title, g)
				}
				if ds := p.DataSource; ds != nil && sources[ds.UID] != ds.Type {
					t.Errorf("%s: panel %q: data source %+v is not provisioned (provisioned: %v)", d.file, p.Title, *ds, sources)
				}
				if p.Type != "row" && len(p.Targets) == 0 {
					t.Errorf("%s: panel %q (%s) has no query", d.file, p.Title, p.Type)
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
		for _, q := range d.queries() {
			typ, ok := sources[q.source.UID]
			if !ok || typ != q.source.Type {
				t.Errorf("%s: data source %+v is not provisioned (provisioned: %v)", q, q.source, sources)
				continue
			}
			kinds[typ]++
			switch typ {
			case clickhouseType:
				if strings.TrimSpace(q.RawSQL) == "" || q.EditorType != "sql" || q.Format == nil || (q.QueryType != "table" && q.QueryType != "timeseries") {
					t.Errorf("%s: want SQL (editorType sql, queryType table or timeseries, a format), got %+v", q, q.target)
				}
				if (q.QueryType == "timeseries") != (*q.Format == 0) {
					t.Errorf("%s: queryType %s with format %d (the plugin's 0 is time series, 1 table)", q, q.QueryType, *q.Format)
				}
			case prometheusType:
				if strings.TrimSpace(q.Expr) == "" {
					t.Errorf("%s: empty PromQL", q)
				}
			}
		}
	}
	if kinds[clickhouseType] == 0 || kinds[prometheusType] == 0 {
		t.Errorf("queries per data source type %v: want ClickHouse and Prometheus panels", kinds)
	}
}

func mapsValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// The range and interval the ClickHouse panels' macros are expanded with:
// the fleet's pings are from November 2025 to February 2026.
var (
	panelFrom     = time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	panelTo       = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	panelInterval = 24 * time.Hour
)

// macro is a $__name or $__name(args) of the ClickHouse plugin.
var macro = regexp.MustCompile(`\$__([A-Za-z_]+)(\(([^()]*)\))?`)

// expandMacros expands the plugin's macros as its backend does
// (pkg/macros of grafana-clickhouse-datasource): time bounds as
// toDateTime(unix seconds), fromUnixTimestamp64Milli(ms) for the _ms
// forms, toDate('YYYY-MM-DD') for dates, intervals of at least one
// second. A macro it does not know, or a template variable, is an error.
func expandMacros(sql string, from, to time.Time, interval time.Duration) (string, error) {
	dt := func(t time.Time) string { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }
	dt64 := func(t time.Time) string { return fmt.Sprintf("fromUnixTimestamp64Milli(%d)", t.UnixMilli()) }
	date := func(t time.Time) string { return fmt.Sprintf("toDate('%s')", t.Format(time.DateOnly)) }
	between := func(col, lo, hi string) string { return fmt.Sprintf("%s >= %s AND %s <= %s", col, lo, col, hi) }
	seconds := int(math.Max(interval.Seconds(), 1))
	var bad error
	out := macro.ReplaceAllStringFunc(sql, func(m string) string {
		parts := macro.FindStringSubmatch(m)
		name, hasArgs := parts[1], parts[2] != ""
		var args []string
		if hasArgs && strings.TrimSpace(parts[3]) != "" {
			for _, a := range strings.Split(parts[3], ",") {
				args = append(args, strings.TrimSpace(a))
			}
		}
		want := map[string]int{
			"fromTime": 0, "toTime": 0, "fromTime_ms": 0, "toTime_ms": 0, "interval_s": 0,
			"timeFilter": 1, "timeFilter_ms": 1, "dateFilter": 1, "timeInterval": 1, "timeInterval_ms": 1,
			"dateTimeFilter": 2, "dt": 2,
		}
		n, known := want[name]
		if !known {
			bad = fmt.Errorf("macro $__%s is not one of the plugin's", name)
			return m
		}
		if len(args) != n {
			bad = fmt.Errorf("macro $__%s takes %d arguments, has %d", name, n, len(args))
			return m
		}
		switch name {
		case "fromTime":
			return dt(from)
		case "toTime":
			return dt(to)
		case "fromTime_ms":
			return dt64(from)
		case "toTime_ms":
			return dt64(to)
		case "interval_s":
			return strconv.Itoa(seconds)
		case "timeFilter":
			return between(args[0], dt(from), dt(to))
		case "timeFilter_ms":
			return between(args[0], dt64(from), dt64(to))
		case "dateFilter":
			return between(args[0], date(from), date(to))
		case "timeInterval":
			return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", args[0], seconds)
		case "timeInterval_ms":
			return fmt.Sprintf("toStartOfInterval(toDateTime64(%s, 3), INTERVAL %d millisecond)", args[0], max(interval.Milliseconds(), 1))
		default: // dateTimeFilter, dt
			return fmt.Sprintf("(%s) AND (%s)", between(args[0], date(from), date(to)), between(args[1], dt(from), dt(to)))
		}
	})
	if bad != nil {
		return "", bad
	}
	if i := strings.IndexByte(out, '$'); i >= 0 {
		return "", fmt.Errorf("a template variable or unknown macro is left at %q", out[i:min(len(out), i+30)])
	}
	return out, nil
}

func TestExpandMacros(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	to := from.Add(time.Hour)
	for _, c := range []struct{ in, want string }{
		{"$__timeFilter(received_at)", "received_at >= toDateTime(1767323045) AND received_at <= toDateTime(1767326645)"},
		{"$__timeFilter_ms(t)", "t >= fromUnixTimestamp64Milli(1767323045600) AND t <= fromUnixTimestamp64Milli(1767326645600)"},
		{"$__dateFilter(d)", "d >= toDate('2026-01-02') AND d <= toDate('2026-01-02')"},
		{"$__dateTimeFilter(d, t)", "(d >= toDate('2026-01-02') AND d <= toDate('2026-01-02')) AND (t >= toDateTime(1767323045) AND t <= toDateTime(1767326645))"},
		{"$__fromTime < $__toTime", "toDateTime(1767323045) < toDateTime(1767326645)"},
		{"$__timeInterval(t)", "toStartOfInterval(toDateTime(t), INTERVAL 60 second)"},
		{"$__interval_s", "60"},
	} {
		got, err := expandMacros(c.in, from, to, time.Minute)
		if err != nil || got != c.want {
			t.Errorf("expandMacros(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"$__timeFilter()", "$__nope(x)", "WHERE x = $instance", "$__timeFilter(a, b)"} {
		if got, err := expandMacros(in, from, to, time.Minute); err == nil {
			t.Errorf("expandMacros(%q) = %q, want an error", in, got)
		}
	}
}

// TestGrafanaClickHousePanels runs every ClickHouse panel's SQL, its
// macros expanded over the fleet's months, against a warehouse holding
// the hand-written fleet and the marts dbt built from it: each must run
// and return rows.
func TestGrafanaClickHousePanels(t *testing.T) {
	fleetWarehouse(t)
	conn := chtest.Conn(t, sourceDB)
	n := 0
	for _, d := range loadDashboards(t) {
		for _, q := range d.queries() {
			if q.source.Type != clickhouseType {
				continue
			}
			n++
			sql, err := expandMacros(q.RawSQL, panelFrom, panelTo, panelInterval)
			if err != nil {
				t.Errorf("%s: %v", q, err)
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			rows, err := conn.Query(ctx, sql)
			if err != nil {
				cancel()
				t.Errorf("%s: %v\n%s", q, err, sql)
				continue
			}
			count := 0
			for rows.Next() {
				count++
			}
			err = rows.Err()
			rows.Close()
			cancel()
			if err != nil || count == 0 {
				t.Errorf("%s: %d rows (%v), want some on the fleet\n%s", q, count, err, sql)
				continue
			}
			t.Logf("%s: %d rows", q, count)
		}
	}
	if n == 0 {
		t.Fatal("no ClickHouse panel")
	}
}

// promName is a metric name in PromQL that the services define
// (serviceping_…); label names and values are matched out first.
var (
	promName    = regexp.MustCompile(`\bserviceping_[a-z0-9_]+\b`)
	promMatcher = regexp.MustCompile(`\{[^}]*\}`)
)

// TestGrafanaPrometheusPanels: every metric a Prometheus panel reads is
// one the services export, by the name the code gives it (a histogram's
// _bucket, _sum and _count series included); the code is read with
// go/parser.
func TestGrafanaPrometheusPanels(t *testing.T) {
	t.Parallel()
	exported := exportedMetrics(t)
	n := 0
	for _, d := range loadDashboards(t) {
		for _, q := range d.queries() {
			if q.source.Type != prometheusType {
				continue
			}
			names := promName.FindAllString(promMatcher.ReplaceAllString(q.Expr, "{}"), -1)
			if len(names) == 0 {
				t.Errorf("%s: %q reads no serviceping_ metric", q, q.Expr)
			}
			for _, name := range names {
				n++
				if !exported[name] {
					t.Errorf("%s: %s is not a metric the services export", q, name)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no Prometheus panel")
	}
}

// exportedMetrics reads the non-test Go files of services/ and pkg/ for
// the metrics they define: prometheus.…Opts{Namespace, Subsystem, Name}
// literals and, in files that import pkg/metric, a metric.Set's
// declarations (set.Counter("name", …), set.HistogramVec("name", …) …) —
// histograms and summaries with their series — and
// prometheus.NewDesc("name", …).
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	setKinds := map[string]bool{"Counter": true, "CounterVec": true, "Gauge": true, "GaugeVec": true, "Histogram": true, "HistogramVec": true}
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, dir := range []string{"services", "pkg"} {
		err := filepath.WalkDir(filepath.Join(repoRoot(), dir), func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			usesSet := slices.ContainsFunc(f.Imports, func(s *ast.ImportSpec) bool {
				return s.Path.Value == `"github.com/serviceping/serviceping/pkg/metric"`
			})
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CompositeLit:
					sel, ok := n.Type.(*ast.SelectorExpr)
					if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
						return true
					}
					parts := map[string]string{}
					for _, el := range n.Elts {
						kv, ok := el.(*ast.KeyValueExpr)
						if !ok {
							continue
						}
						key, _ := kv.Key.(*ast.Ident)
						lit, _ := kv.Value.(*ast.BasicLit)
						if key != nil && lit != nil && lit.Kind == token.STRING {
							parts[key.Name], _ = strconv.Unquote(lit.Value)
						}
					}
					if parts["Name"] == "" {
						return true
					}
					var name []string
					for _, k := range []string{"Namespace", "Subsystem", "Name"} {
						if parts[k] != "" {
							name = append(name, parts[k])
						}
					}
					full := strings.Join(name, "_")
					out[full] = true
					if sel.Sel.Name == "HistogramOpts" || sel.Sel.Name == "SummaryOpts" {
						out[full+"_sum"], out[full+"_count"] = true, true
						if sel.Sel.Name == "HistogramOpts" {
							out[full+"_bucket"] = true
						}
					}
				case *ast.CallExpr:
					sel, ok := n.Fun.(*ast.SelectorExpr)
					if !ok || len(n.Args) == 0 {
						return true
					}
					lit, ok := n.Args[0].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						return true
					}
					name, _ := strconv.Unquote(lit.Value)
					switch {
					case sel.Sel.Name == "NewDesc":
						out[name] = true
					case usesSet && setKinds[sel.Sel.Name]:
						out[name] = true
						if strings.HasPrefix(sel.Sel.Name, "Histogram") {
							out[name+"_sum"], out[name+"_count"], out[name+"_bucket"] = true, true, true
						}
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatalf("read the services' code: %v", err)
		}
	}
	if !out["serviceping_gateway_requests_total"] || !out["serviceping_loader_ping_lag_seconds_bucket"] || !out["serviceping_gateway_request_duration_seconds_bucket"] {
		t.Fatalf("the code's metrics as read: %d names, without the gateway's requests or request durations or the loader's ping lag: the reader is broken", len(out))
	}
	return out
}
