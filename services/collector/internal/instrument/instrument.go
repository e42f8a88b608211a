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
	Now           func() time.Time
}

// Value computes r.
func (e *Env) Value(ctx context.Context, r definitions.Resolved) (any, error) {
	switch r.DataSource {
	case "database":
		return e.database(ctx, r)
	case "redis":
		return e.redisCounter(ctx, r)
	case "redis_hll":
		return e.redisHLL(ctx, r)
	case "internal_events":
		return e.internalEvents(ctx, r)
	case "system":
		return e.system(ctx, r)
	case "license":
		return e.license(r)
	case "prometheus":
		return e.prometheus(ctx, r)
	}
	return nil, fmt.Errorf("data source %q is not supported", r.DataSource)
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
		Operation: op, Table: str(o, "table"), Column: str(o, "column"), Where: str(o, "where"),
		TimeColumn: str(o, "time_column"), TimeFrame: r.TimeFrame, BatchSize: bs,
		Start: str(o, "start"), Finish: str(o, "finish"),
	}
	return q, q.Validate()
}

func (e *Env) database(ctx context.Context, r definitions.Resolved) (any, error) {
	q, err := DatabaseQuery(r)
	if err != nil {
		return nil, err
	}
	if e.DB == nil {
		return nil, fmt.Errorf("database: %w", ErrUnavailable)
	}
	res, err := e.DB.Run(ctx, q)
	if err != nil {
		return nil, err
	}
	return res.Value, nil
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
	if str(r.Options, "event") == "" {
		return nil, errors.New("redis metric without options.event")
	}
	return t.Counter(ctx, CounterKeyOf(r.Options))
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
	events := stringList(r.Options["events"])
	if len(events) == 0 {
		return nil, errors.New("redis_hll metric without options.events")
	}
	n, err := t.UniqueCount(ctx, events, "user", r.TimeFrame)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCounter, err)
	}
	return n, nil
}

func (e *Env) internalEvents(ctx context.Context, r definitions.Resolved) (any, error) {
	t, err := e.tracker()
	if err != nil {
		return nil, err
	}
	if len(r.Events) == 0 {
		return nil, errors.New("internal_events metric without events")
	}
	var names []string
	unique := r.Events[0].Unique
	for _, ev := range r.Events {
		if len(ev.Filter) > 0 {
			return nil, errors.New("event filters are not supported")
		}
		if ev.Operator != "" {
			return nil, fmt.Errorf("operator %q is not supported", ev.Operator)
		}
		if ev.Unique != unique {
			return nil, errors.New("events mix unique properties")
		}
		names = append(names, ev.Name)
	}
	if unique == "" {
		return t.Total(ctx, names, r.TimeFrame)
	}
	n, err := t.UniqueCount(ctx, names, eventtrack.DimensionOf(unique), r.TimeFrame)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCounter, err)
	}
	return n, nil
}

// AggregateValue computes an aggregated metric (OR = union, AND = intersection).
func (e *Env) AggregateValue(ctx context.Context, a definitions.Aggregate, timeFrame string) (any, error) {
	t, err := e.tracker()
	if err != nil {
		return nil, err
	}
	var n int64
	if a.Operator == "AND" {
		n, err = t.Intersection(ctx, a.Events, "user", timeFrame)
	} else {
		n, err = t.UniqueCount(ctx, a.Events, "user", timeFrame)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCounter, err)
	}
	return n, nil
}

func (e *Env) system(ctx context.Context, r definitions.Resolved) (any, error) {
	o := r.Options
	if s := str(o, "setting"); s != "" {
		return e.setting(s)
	}
	if s := str(o, "setting_method"); s != "" {
		return e.setting(strings.TrimSuffix(s, "?"))
	}
	switch a := str(o, "attribute"); a {
	case "uuid":
		return e.System.UUID, nil
	case "hostname":
		return e.System.Hostname, nil
	case "version":
		return e.System.Version, nil
	case "installation_type":
		return e.System.InstallationType, nil
	case "edition":
		return e.System.Edition, nil
	case "recorded_at":
		return e.Now().UTC().Format("2006-01-02T15:04:05.000Z"), nil
	case "topology":
		if e.System.Topology != nil {
			return e.System.Topology(ctx), nil
		}
		return HostTopology(ctx), nil
	case "version_part":
		return versionPart(e.System.Version, str(o, "part"))
	case "value":
		return o["value"], nil
	case "":
		return nil, fmt.Errorf("system metric without options.attribute or options.setting (instrumentation class %s is not mapped)", r.InstrumentationClass)
	default:
		return nil, fmt.Errorf("unknown system attribute %q", a)
	}
}

func versionPart(v, part string) (any, error) {
	core, _, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	idx := map[string]int{"major": 0, "minor": 1, "patch": 2}
	i, ok := idx[part]
	if !ok || i >= len(parts) {
		return nil, fmt.Errorf("version %q has no %s part", v, part)
	}
	return strconv.Atoi(parts[i])
}

func (e *Env) setting(name string) (any, error) {
	v, ok := e.System.Settings[name]
	if !ok {
		return nil, fmt.Errorf("setting %q is not configured", name)
	}
	return v, nil
}

func (e *Env) license(r definitions.Resolved) (any, error) {
	if e.License == nil {
		return nil, fmt.Errorf("license: %w", ErrUnavailable)
	}
	a := str(r.Options, "attribute")
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
