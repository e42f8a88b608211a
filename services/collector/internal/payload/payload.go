// Package payload assembles a Service Ping payload from metric definitions:
// every metric runs in isolation under its own timeout, failures become
// GitLab's fallback values, each metric's elapsed time is recorded for the
// metadata request, and the identity fields are always present.
package payload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/serviceping/serviceping/services/collector/internal/definitions"
	"github.com/serviceping/serviceping/services/collector/internal/instrument"
)

// Fallback values (GitLab's service_ping docs).
const (
	FallbackGeneral    = -1
	FallbackCounter    = -2
	FallbackDeprecated = -1000
)

// Identity fields always present in a payload.
var IdentityFields = []string{"uuid", "hostname", "version", "installation_type", "recorded_at"}

// Timing is one entry of the metadata request.
type Timing struct {
	Name        string  `json:"name"`
	TimeElapsed float64 `json:"time_elapsed"`
	Error       string  `json:"error,omitempty"`
}

// Result is a built payload.
type Result struct {
	Payload    map[string]any
	Metrics    []Timing
	RecordedAt time.Time
	Elapsed    time.Duration
	Failed     int
}

// JSON encodes the payload (keys sorted, stable).
func (r *Result) JSON() ([]byte, error) { return json.Marshal(r.Payload) }

// Identity of the instance.
type Identity struct {
	UUID, Hostname, Version, InstallationType string
}

// Privacy drops or hashes dotted key paths before anything leaves the
// instance. Hashing is hex SHA-256 of the value (JSON for non-strings).
type Privacy struct {
	Drop []string `yaml:"drop"`
	Hash []string `yaml:"hash"`
}

// Data categories (GitLab's ServicePing::PermitDataCategories).
const (
	CategoryStandard     = "standard"
	CategorySubscription = "subscription"
	CategoryOperational  = "operational"
	CategoryOptional     = "optional"
)

// Builder builds payloads.
type Builder struct {
	Env           *instrument.Env
	Mapping       *definitions.Mapping
	Identity      Identity
	MetricTimeout time.Duration
	Concurrency   int
	Privacy       Privacy
	Log           *slog.Logger
	Now           func() time.Time
	// ExcludeOptional leaves out the metrics of data category optional
	// (and those without a category): with GitLab's "include optional
	// data" off only standard, subscription and operational metrics are
	// computed and sent.
	ExcludeOptional bool
	// Mode is instrument.Env's: values, or GitLab's queries / non-SQL
	// variants of the payload.
	Mode string
	// Flag reports a feature flag (an aggregate's feature_flag); nil: all on.
	Flag func(name string) bool
}

// Categories are the data categories a payload collects.
func (b *Builder) Categories() []string {
	c := []string{CategoryStandard, CategorySubscription, CategoryOperational}
	if !b.ExcludeOptional {
		c = append(c, CategoryOptional)
	}
	return c
}

// Permitted reports whether a metric's data category is collected.
func (b *Builder) Permitted(m definitions.Metric) bool {
	switch m.DataCategory {
	case CategoryStandard, CategorySubscription, CategoryOperational:
		return true
	}
	return !b.ExcludeOptional
}

type job struct {
	key string
	run func(ctx context.Context) (any, error)
	// fixed value without running (deprecated metrics)
	fixed    any
	hasFixed bool
	// histogram metrics fall back to {"-1": -1}
	histogram bool
	// aggregates run after every metric (they merge what metrics saved)
	late bool
}

// Build computes every emitted metric of set.
func (b *Builder) Build(ctx context.Context, set *definitions.Set) (*Result, error) {
	start := time.Now()
	now := b.Now
	if now == nil {
		now = time.Now
	}
	recordedAt := now().UTC()
	env := *b.Env
	env.Now = func() time.Time { return recordedAt }
	env.Clock = now
	env.System.UUID, env.System.Hostname = b.Identity.UUID, b.Identity.Hostname
	env.System.Version, env.System.InstallationType = b.Identity.Version, b.Identity.InstallationType
	env.Categories = b.Categories()
	env.Mode = b.Mode

	var jobs []job
	unknown := map[string]int{}
	for _, m := range set.Metrics {
		if !m.Emitted() || !b.Permitted(m) {
			continue
		}
		if m.Status == definitions.StatusDeprecated {
			jobs = append(jobs, job{key: m.KeyPath, fixed: FallbackDeprecated, hasFixed: true})
			continue
		}
		r := b.Mapping.Resolve(m)
		if r.UnknownClass != "" {
			unknown[r.UnknownClass]++
		}
		jobs = append(jobs, job{key: m.KeyPath, histogram: m.Histogram(),
			run: func(ctx context.Context) (any, error) { return env.Value(ctx, r) }})
	}
	for _, class := range sortedKeys(unknown) {
		b.Log.Warn("instrumentation class unknown to the collector, its metrics fall back", "class", class, "metrics", unknown[class])
	}
	if !b.ExcludeOptional { // aggregated metrics are optional data
		for _, a := range set.Aggregates {
			if a.FeatureFlag != "" && b.Flag != nil && !b.Flag(a.FeatureFlag) {
				continue // GitLab checks the flag before aggregating
			}
			for _, tf := range a.TimeFrame {
				jobs = append(jobs, job{key: definitions.AggregateKeyPath(a.Name, tf), late: true, run: func(ctx context.Context) (any, error) {
					return env.AggregateValue(ctx, a, tf)
				}})
			}
		}
	}

	values := make([]any, len(jobs))
	timings := make([]Timing, len(jobs))
	conc := max(b.Concurrency, 1)
	sem := make(chan struct{}, conc)
	for _, late := range []bool{false, true} {
		var wg sync.WaitGroup
		for i, j := range jobs {
			if j.late != late {
				continue
			}
			if j.hasFixed {
				values[i] = j.fixed
				timings[i] = Timing{Name: j.key}
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("build payload: %w", err)
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				values[i], timings[i] = b.runOne(ctx, j)
			}()
		}
		wg.Wait()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build payload: %w", err)
	}

	res := &Result{Payload: map[string]any{}, RecordedAt: recordedAt}
	for i, j := range jobs {
		if err := set0(res.Payload, j.key, values[i]); err != nil {
			b.Log.Warn("metric not placed", "key_path", j.key, "err", err)
			timings[i].Error = err.Error()
		}
		if timings[i].Error != "" {
			res.Failed++
		}
	}
	for k, v := range map[string]any{
		"uuid": b.Identity.UUID, "hostname": b.Identity.Hostname, "version": b.Identity.Version,
		"installation_type": b.Identity.InstallationType, "recorded_at": recordedAt.Format("2006-01-02T15:04:05.000Z"),
	} {
		res.Payload[k] = v
	}
	ApplyPrivacy(res.Payload, b.Privacy)
	sort.SliceStable(timings, func(a, c int) bool { return timings[a].Name < timings[c].Name })
	res.Metrics = timings
	res.Elapsed = time.Since(start)
	return res, nil
}

func (b *Builder) runOne(ctx context.Context, j job) (v any, t Timing) {
	t.Name = j.key
	start := time.Now()
	mctx := ctx
	if b.MetricTimeout > 0 {
		var cancel context.CancelFunc
		mctx, cancel = context.WithTimeout(ctx, b.MetricTimeout)
		defer cancel()
	}
	defer func() {
		t.TimeElapsed = time.Since(start).Seconds()
		if p := recover(); p != nil {
			v, t.Error = FallbackGeneral, fmt.Sprintf("panic: %v", p)
			b.Log.Error("metric panicked", "key_path", j.key, "panic", p)
		}
	}()
	val, err := j.run(mctx)
	if err != nil {
		var fb any = Fallback(err)
		if j.histogram {
			fb = map[string]any{"-1": FallbackGeneral}
		}
		if errors.Is(mctx.Err(), context.DeadlineExceeded) && !j.histogram {
			fb, err = FallbackGeneral, fmt.Errorf("timeout after %s: %w", b.MetricTimeout, err)
		}
		level := slog.LevelWarn
		if errors.Is(err, instrument.ErrUnavailable) {
			level = slog.LevelDebug
		}
		b.Log.Log(ctx, level, "metric failed", "key_path", j.key, "fallback", fb, "err", err)
		return fb, Timing{Name: j.key, Error: err.Error()}
	}
	return val, t
}

// Fallback maps an error to GitLab's fallback value.
func Fallback(err error) int {
	if errors.Is(err, instrument.ErrCounter) {
		return FallbackCounter
	}
	return FallbackGeneral
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// set0 places v at a dotted path, creating objects on the way.
func set0(root map[string]any, path string, v any) error {
	parts := strings.Split(path, ".")
	cur := root
	for i, p := range parts[:len(parts)-1] {
		next, ok := cur[p]
		if !ok {
			m := map[string]any{}
			cur[p] = m
			cur = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%s is a value, not an object", strings.Join(parts[:i+1], "."))
		}
		cur = m
	}
	last := parts[len(parts)-1]
	if existing, ok := cur[last].(map[string]any); ok && len(existing) > 0 {
		return fmt.Errorf("%s is an object of other metrics", path)
	}
	cur[last] = v
	return nil
}

// ApplyPrivacy drops and hashes the configured key paths in place.
func ApplyPrivacy(root map[string]any, p Privacy) {
	for _, path := range p.Drop {
		parent, last := walk(root, path)
		if parent != nil {
			delete(parent, last)
		}
	}
	for _, path := range p.Hash {
		parent, last := walk(root, path)
		if parent == nil {
			continue
		}
		v, ok := parent[last]
		if !ok || v == nil {
			continue
		}
		parent[last] = HashValue(v)
	}
}

// HashValue is the privacy hash of a value.
func HashValue(v any) string {
	s, ok := v.(string)
	if !ok {
		b, _ := json.Marshal(v)
		s = string(b)
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func walk(root map[string]any, path string) (map[string]any, string) {
	parts := strings.Split(path, ".")
	cur := root
	for _, p := range parts[:len(parts)-1] {
		m, ok := cur[p].(map[string]any)
		if !ok {
			return nil, ""
		}
		cur = m
	}
	return cur, parts[len(parts)-1]
}
