// Package instrument computes one metric's value from its data source:
// database (generic DatabaseMetric options), redis (RedisMetric counters),
// redis_hll (RedisHLLMetric unique counts), internal_events (totals and
// unique counts), system, license and prometheus.
package instrument

import (
	"context"
	"crypto/md5" //nolint:gosec // GitLab's license_md5 is an identifier, not security
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/serviceping/serviceping/services/collector/internal/database"
	"github.com/serviceping/serviceping/services/collector/internal/definitions"
	"github.com/serviceping/serviceping/services/collector/internal/eventtrack"
)

// ErrCounter marks failures of distributed HLL counters (fallback -2).
var ErrCounter = errors.New("counter error")

// ErrUnavailable marks a data source that is not configured.
var ErrUnavailable = errors.New("data source not configured")

// System is what the system data source reads.
type System struct {
	UUID             string
	Hostname         string
	Version          string
	InstallationType string
	Edition          string
	Settings         map[string]any
	// Topology returns the topology object; nil uses the host's.
	Topology func(ctx context.Context) map[string]any
}

// License is a license file's content.
type License struct {
	Fields map[string]any
	MD5    string
	SHA256 string
}

// LoadLicense reads a YAML or JSON license file (keys as GitLab's license
// attributes: license_id, subscription_id, plan, user_count, starts_at,
// expires_at, trial, add_ons, licensee{Name,Email,Company}, ...).
func LoadLicense(path string) (*License, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read license: %w", err)
	}
	var f map[string]any
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse license %s: %w", path, err)
	}
	m := md5.Sum(b) //nolint:gosec
	s := sha256.Sum256(b)
	return &License{Fields: f, MD5: hex.EncodeToString(m[:]), SHA256: hex.EncodeToString(s[:])}, nil
}

// Env holds the data sources. Any may be nil: metrics needing it fail with
// ErrUnavailable and get their fallback.
type Env struct {
	DB            *database.Counter
	Tracker       *eventtrack.Tracker
	System        System
	License       *License
	PrometheusURL string
	HTTP          *http.Client
	// Now is the payload's recorded_at clock; Clock (default Now) is read
	// when a metric asks for the time it is computed.
	Now   func() time.Time
	Clock func() time.Time
	// Config is the instance's gitlab.yml tree (GitlabConfigMetric and the
	// git, gitaly, pages, registry, object store and mail facts).
	Config map[string]any
	// Categories are the data categories this payload collects
	// (settings.collected_data_categories).
	Categories []string
	// UsagePingEnabled gates the connectivity probe, as in GitLab.
	UsagePingEnabled bool
	// ConnectivityURL replaces GitLab's test endpoint (DefaultConnectivityURL).
	ConnectivityURL string
	// Flag reports a GitLab feature flag's state (FeatureFlagMetric, the
	// <Name>FfMetric classes); nil: every flag is on.
	Flag func(name string) bool
	// Mode is what database metrics (the batch operations of
	// DatabaseMetric) yield: their value (ModeValues), their SQL
	// (ModeQueries, GitLab's /usage_data/queries) or -3 (ModeNonSQL,
	// /usage_data/non_sql_metrics).
	Mode string
}

// Modes of a build.
const (
	ModeValues  = ""
	ModeQueries = "queries"
	ModeNonSQL  = "non_sql"
)

// SQLMetricDefault is what /usage_data/non_sql_metrics puts in place of a
// database metric (GitLab's SQL_METRIC_DEFAULT).
const SQLMetricDefault = -3

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Value computes r with the source its mapping resolved (see package
// classes), else its data_source.
func (e *Env) Value(ctx context.Context, r definitions.Resolved) (any, error) {
	if r.Err != nil {
		return nil, r.Err
	}
	source := r.Source
	if source == "" {
		source = r.DataSource
	}
	switch source {
	case "database":
		return e.database(ctx, r)
	case "redis":
		return e.redisCounter(ctx, r)
	case "redis_hll":
		return e.redisHLL(ctx, r)
	case "internal_events":
		return e.internalEvents(ctx, r)
	case "system", "fact":
		return e.system(ctx, r)
	case "setting":
		return e.applicationSetting(ctx, settingOptions(r))
	case "config":
		return e.config(r.Options)
	case "license":
		return e.license(ctx, r)
	case "prometheus":
		return e.prometheus(ctx, r)
	case "aggregate":
		return e.aggregatedMetric(ctx, r)
	}
	return nil, fmt.Errorf("data source %q is not supported", source)
}

func str(o map[string]any, k string) string {
	switch v := o[k].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func num(o map[string]any, k string) (int, error) {
	switch v := o[k].(type) {
	case nil:
		return 0, nil
	case int:
		return v, nil
	case float64:
		return int(v), nil
	case string:
		return strconv.Atoi(v)
	}
	return 0, fmt.Errorf("option %s: not a number", k)
}

// DatabaseQuery turns DatabaseMetric options into a query.
func DatabaseQuery(r definitions.Resolved) (database.Query, error) {
	o := r.Options
	if len(o) == 0 || str(o, "table") == "" {
		cls := r.InstrumentationClass
		if cls == "" {
			cls = "(none)"
		}
		return database.Query{}, fmt.Errorf("database metric without options.table (instrumentation class %s is not mapped)", cls)
	}
	bs, err := num(o, "batch_size")
	if err != nil {
		return database.Query{}, err
	}
	op := str(o, "operation")
	if op == "" {
		op = database.OpCount
	}
	q := database.Query{
		Operation: op, Table: str(o, "table"), Column: str(o, "column"), Joins: str(o, "joins"), Where: str(o, "where"),
		TimeColumn: str(o, "time_column"), TimeFrame: r.TimeFrame, BatchSize: bs,
		Start: str(o, "start"), Finish: str(o, "finish"),
	}
	if allTime, _ := o["all_time"].(bool); allTime {
		q.TimeFrame = "all" // GitLab counted all time whatever the metric's time frame
	}
	return q, q.Validate()
}

func (e *Env) database(ctx context.Context, r definitions.Resolved) (any, error) {
	if sql := str(r.Options, "query"); sql != "" {
		if e.DB == nil {
			return nil, fmt.Errorf("database: %w", ErrUnavailable)
		}
		return e.DB.Value(ctx, e.windowed(sql, r.TimeFrame))
	}
	q, err := DatabaseQuery(r)
	if err != nil {
		return nil, err
	}
	switch e.Mode {
	case ModeNonSQL:
		return SQLMetricDefault, nil
	case ModeQueries:
		c := e.DB
		if c == nil {
			c = &database.Counter{Now: e.now}
		}
		return c.SQL(q)
	}
	if e.DB == nil {
		return nil, fmt.Errorf("database: %w", ErrUnavailable)
	}
	res, err := e.DB.Run(ctx, q)
	if err != nil {
		return nil, err
	}
	if name := str(r.Options, "save_as"); name != "" && res.Sketch != nil {
		e.saveSketch(ctx, name, r.TimeFrame, res.Sketch)
	}
	return res.Value, nil
}

// windowed replaces {window_start} and {window_end} in a value query with
// the time frame's bounds (GitLab's 28d/7d windows; all time otherwise).
func (e *Env) windowed(sql, timeFrame string) string {
	from, to, ok := database.Window(e.now(), timeFrame)
	lo, hi := "'-infinity'::timestamptz", "'infinity'::timestamptz"
	if ok {
		lo = "'" + from.Format(time.RFC3339Nano) + "'::timestamptz"
		hi = "'" + to.Format(time.RFC3339Nano) + "'::timestamptz"
	}
	return strings.NewReplacer("{window_start}", lo, "{window_end}", hi).Replace(sql)
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Env) tracker() (*eventtrack.Tracker, error) {
	if e.Tracker == nil {
		return nil, fmt.Errorf("redis: %w", ErrUnavailable)
	}
	return e.Tracker, nil
}

// CounterKeyOf is a RedisMetric definition's key.
func CounterKeyOf(o map[string]any) string {
	include := true
	if v, ok := o["include_usage_prefix"].(bool); ok {
		include = v
	}
	return eventtrack.CounterKey(str(o, "prefix"), str(o, "event"), include)
}

func (e *Env) redisCounter(ctx context.Context, r definitions.Resolved) (any, error) {
	t, err := e.tracker()
	if err != nil {
		return nil, err
	}
	if key := str(r.Options, "key"); key != "" {
		return t.Text(ctx, key) // a plain key another process writes (PatchedFilesMetric)
	}
	o := r.Options
	if str(o, "event") == "" {
		if r.Class != "" || r.InstrumentationClass != "" {
			return nil, errors.New("redis metric without options.event")
		}
		// A legacy definition without a class: GitLab's counters are
		// USAGE_<PREFIX>_<EVENT> and their payload key <prefix>_<event>, so
		// the key path's last part names the counter.
		o = map[string]any{"event": r.KeyPath[strings.LastIndex(r.KeyPath, ".")+1:]}
	}
	return t.Counter(ctx, CounterKeyOf(o))
}

// HLLEvents are a RedisHLLMetric's events: options.events, else the
// top-level events list newer definitions carry.
func HLLEvents(r definitions.Resolved) []string {
	if evs := stringList(r.Options["events"]); len(evs) > 0 {
		return evs
	}
	out := make([]string, 0, len(r.Events))
	for _, ev := range r.Events {
		out = append(out, ev.Name)
	}
	return out
}

func stringList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (e *Env) redisHLL(ctx context.Context, r definitions.Resolved) (any, error) {
	t, err := e.tracker()
	if err != nil {
		return nil, err
	}
	events := HLLEvents(r)
	if c := str(r.Options, "category"); c != "" && len(events) == 0 {
		events = t.Registry.Category(c)
		if len(events) == 0 {
			return nil, fmt.Errorf("no known events in category %q", c)
		}
	}
	if len(events) == 0 {
		return nil, errors.New("redis_hll metric without events (options.events or a top-level events list)")
	}
	tf := r.TimeFrame
	if f := str(r.Options, "time_frame"); f != "" {
		tf = f // GitLab's code fixed the range, not the file (analytics_unique_visits)
	}
	n, err := t.UniqueCount(ctx, events, "user", tf)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCounter, err)
	}
	return n, nil
}

func (e *Env) license(ctx context.Context, r definitions.Resolved) (any, error) {
	a := strings.TrimSuffix(str(r.Options, "attribute"), "?")
	switch a {
	case "historical_max":
		return e.historicalMax(ctx)
	case "daily_billable_users_count":
		return e.billableUsers(ctx)
	}
	if e.License == nil {
		return nil, fmt.Errorf("license: %w", ErrUnavailable)
	}
	switch a {
	case "md5":
		return e.License.MD5, nil
	case "sha256":
		return e.License.SHA256, nil
	case "":
		return nil, fmt.Errorf("license metric without options.attribute (instrumentation class %s is not mapped)", r.InstrumentationClass)
	}
	v, ok := e.License.Fields[a]
	if !ok {
		return nil, nil // GitLab reports nil for attributes a license lacks
	}
	return v, nil
}

// historicalMax is GitLab's License#historical_max: the largest active user
// count historical_data recorded between the license's start and its
// expiry (or now), over the last year when there is no license.
func (e *Env) historicalMax(ctx context.Context) (any, error) {
	if e.DB == nil {
		return nil, fmt.Errorf("database: %w", ErrUnavailable)
	}
	to := e.now().UTC()
	from := to.AddDate(-1, 0, 0)
	if e.License != nil {
		if t, ok := licenseDate(e.License.Fields["starts_at"]); ok {
			from = t
		}
		if t, ok := licenseDate(e.License.Fields["expires_at"]); ok && t.Before(to) {
			to = t
		}
	}
	v, err := e.DB.Value(ctx, fmt.Sprintf(`SELECT COALESCE(MAX(active_user_count), 0) FROM historical_data
WHERE recorded_at BETWEEN '%s' AND '%s'`, from.Format(time.RFC3339), to.Add(24*time.Hour-time.Second).Format(time.RFC3339)))
	if err != nil {
		return nil, fmt.Errorf("historical max users: %w", err)
	}
	return v, nil
}

// billableUsers is License#daily_billable_users_count: the latest daily
// usage trends measurement of billable users (identifier 11), else — as
// find_latest_or_fallback does — the billable users counted now: active
// humans (no bots; service accounts and the like count) in users.
func (e *Env) billableUsers(ctx context.Context) (any, error) {
	if e.DB == nil {
		return nil, fmt.Errorf("database: %w", ErrUnavailable)
	}
	v, err := e.DB.Value(ctx, `SELECT COALESCE(
  (SELECT count FROM analytics_usage_trends_measurements WHERE identifier = 11 ORDER BY recorded_at DESC LIMIT 1),
  (SELECT count(*) FROM users WHERE state = 'active' AND (user_type IS NULL OR user_type IN (4, 6))))`)
	if err != nil {
		return nil, fmt.Errorf("billable users: %w", err)
	}
	return v, nil
}

func licenseDate(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		t, err := time.Parse("2006-01-02", x)
		return t, err == nil
	}
	return time.Time{}, false
}

func (e *Env) prometheus(ctx context.Context, r definitions.Resolved) (any, error) {
	if e.PrometheusURL == "" {
		return nil, fmt.Errorf("prometheus: %w", ErrUnavailable)
	}
	q := str(r.Options, "query")
	if q == "" {
		return nil, errors.New("prometheus metric without options.query")
	}
	u := strings.TrimRight(e.PrometheusURL, "/") + "/api/v1/query?query=" + url.QueryEscape(q)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	hc := e.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query prometheus: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("query prometheus: status %d", resp.StatusCode)
	}
	var body struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string            `json:"resultType"`
			Result     []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode prometheus answer: %w", err)
	}
	if body.Status != "success" || len(body.Data.Result) == 0 {
		return nil, errors.New("prometheus returned no sample")
	}
	var sample struct {
		Value [2]any `json:"value"`
	}
	if err := json.Unmarshal(body.Data.Result[0], &sample); err != nil {
		return nil, fmt.Errorf("decode prometheus sample: %w", err)
	}
	s, _ := sample.Value[1].(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("prometheus sample %q: %w", s, err)
	}
	return f, nil
}
