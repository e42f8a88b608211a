// Package eventtrack records usage events in Redis the way GitLab's
// HLLRedisCounter and RedisMetric counters do, and reads them back for
// redis, redis_hll and internal_events metrics.
//
// Keys (all behind an optional Prefix):
//
//   - unique events (HLL, PFADD): weekly aggregation "<slotted>-<ISO year>-<ISO week>"
//     expiring after 6 weeks, daily aggregation "<slotted>-<year>-<day of year>"
//     expiring after 29 days; <slotted> applies the redis_slot as GitLab does:
//     "users_creating_epics" with slot "users" → "{users}_creating_epics", no
//     slot → "{name}". Internal events count a unique dimension other than the
//     user under "<slotted>_<dimension>" (project, namespace, ...).
//   - plain counters (RedisMetric): "USAGE_<PREFIX>_<EVENT>" upper-cased (the
//     USAGE_ prefix unless include_usage_prefix is false), never expiring.
//   - internal event totals: "{event_counters}_<name>" (all time) plus weekly
//     "{event_counters}_<name>-<ISO year>-<ISO week>" expiring after 6 weeks.
//
// Windows: weekly events answer 7d with the last complete ISO week and 28d
// with the last 4 complete weeks; daily events with the 7 or 28 days ending
// yesterday (GitLab's weekly/monthly_time_range).
package eventtrack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Aggregations.
const (
	Weekly = "weekly"
	Daily  = "daily"
)

// Expiries from the seeds: 29 days daily, 6 weeks weekly.
const (
	DailyExpiry  = 29 * 24 * time.Hour
	WeeklyExpiry = 42 * 24 * time.Hour
)

// Event is a known event (GitLab's known_events entry).
type Event struct {
	Name        string `yaml:"name"`
	Category    string `yaml:"category"`
	RedisSlot   string `yaml:"redis_slot"`
	Aggregation string `yaml:"aggregation"`
	ExpiryDays  int    `yaml:"expiry"`
	// FeatureFlag switches the event's unique tracking (known_events
	// feature_flag): off in Tracker.Flags, nothing is recorded.
	FeatureFlag string `yaml:"feature_flag"`
	// Counter is the Redis key of a plain counter event (RedisMetric).
	Counter string `yaml:"-"`
	// Internal marks an internal event: totals are counted too.
	Internal bool `yaml:"-"`
	// Filters are the property filters metrics count this internal event
	// under (besides unfiltered); Uniques the dimensions they count
	// distinct values of (user, project, namespace, label, property,
	// value); Sums whether a metric sums its value. Filled from the metric
	// definitions so tracking writes exactly the keys something reads.
	Filters []map[string]any `yaml:"-"`
	Uniques []string         `yaml:"-"`
	Sums    bool             `yaml:"-"`
}

// ErrUnknownEvent is returned for events not in the registry.
var ErrUnknownEvent = errors.New("unknown event")

// Registry is the set of known events. Safe for concurrent reads after
// construction; Add may be called concurrently as well.
type Registry struct {
	mu     sync.RWMutex
	events map[string]Event
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{events: map[string]Event{}} }

// Add registers or merges an event. Explicit slot/aggregation win over
// defaults; a counter key and the internal flag accumulate.
func (r *Registry) Add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, ok := r.events[e.Name]
	if ok {
		if e.RedisSlot == "" {
			e.RedisSlot = prev.RedisSlot
		}
		if e.Aggregation == "" {
			e.Aggregation = prev.Aggregation
		}
		if e.Category == "" {
			e.Category = prev.Category
		}
		if e.Counter == "" {
			e.Counter = prev.Counter
		}
		if e.FeatureFlag == "" {
			e.FeatureFlag = prev.FeatureFlag
		}
		if e.ExpiryDays == 0 {
			e.ExpiryDays = prev.ExpiryDays
		}
		e.Internal = e.Internal || prev.Internal
		e.Sums = e.Sums || prev.Sums
		e.Filters = mergeFilters(prev.Filters, e.Filters)
		e.Uniques = mergeStrings(prev.Uniques, e.Uniques)
	}
	if e.Aggregation == "" {
		e.Aggregation = Weekly
	}
	r.events[e.Name] = e
}

func mergeFilters(a, b []map[string]any) []map[string]any {
	seen := map[string]bool{}
	var out []map[string]any
	for _, f := range append(append([]map[string]any{}, a...), b...) {
		if k := FilterSuffix(f); !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	return out
}

func mergeStrings(a, b []string) []string {
	out := append([]string{}, a...)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Category lists the known events of a category (legacy
// <category>_total_unique_counts metrics), sorted.
func (r *Registry) Category(c string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for name, e := range r.events {
		if e.Category == c {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// FilterSuffix is the key suffix of a property filter: "" for none, else
// "-filter:[k=v,...]" with the keys sorted.
func FilterSuffix(f map[string]any) string {
	if len(f) == 0 {
		return ""
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, f[k])
	}
	return "-filter:[" + strings.Join(parts, ",") + "]"
}

// Get looks an event up.
func (r *Registry) Get(name string) (Event, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.events[name]
	return e, ok
}

// CounterKey is GitLab's RedisMetric key.
func CounterKey(prefix, event string, includeUsagePrefix bool) string {
	k := event
	if prefix != "" {
		k = prefix + "_" + event
	}
	k = strings.ToUpper(k)
	if includeUsagePrefix {
		k = "USAGE_" + k
	}
	return k
}

// Tracker writes and reads event data.
type Tracker struct {
	Redis    redis.UniversalClient
	Registry *Registry
	Prefix   string
	Now      func() time.Time
	// Flags are GitLab's feature flags that switch tracking: redis_hll_tracking
	// (all unique tracking), an event's own feature_flag, usage_data_api
	// (the tracking endpoints) and usage_data_<event> (one event on them).
	// A flag not listed is on.
	Flags map[string]bool
}

// Enabled reports whether a feature flag is on (unlisted flags are).
func (t *Tracker) Enabled(flag string) bool {
	on, ok := t.Flags[flag]
	return !ok || on
}

// uniqueOn reports whether unique tracking of e is switched on.
func (t *Tracker) uniqueOn(e Event) bool {
	return t.Enabled("redis_hll_tracking") && (e.FeatureFlag == "" || t.Enabled(e.FeatureFlag))
}

func (t *Tracker) now() time.Time {
	if t.Now != nil {
		return t.Now().UTC()
	}
	return time.Now().UTC()
}

func slotted(e Event) string {
	switch {
	case e.RedisSlot == "":
		return "{" + e.Name + "}"
	case strings.Contains(e.Name, e.RedisSlot):
		return strings.Replace(e.Name, e.RedisSlot, "{"+e.RedisSlot+"}", 1)
	}
	return e.Name
}

func weekSuffix(d time.Time) string {
	y, w := d.ISOWeek()
	return fmt.Sprintf("%d-%02d", y, w)
}

func (t *Tracker) uniqueKey(e Event, dim string, d time.Time) string {
	base := slotted(e)
	if dim != "" && dim != "user" {
		base += "_" + dim
	}
	if e.Aggregation == Daily {
		return fmt.Sprintf("%s%s-%d-%03d", t.Prefix, base, d.Year(), d.YearDay())
	}
	return t.Prefix + base + "-" + weekSuffix(d)
}

func (t *Tracker) expiry(e Event) time.Duration {
	if e.ExpiryDays > 0 {
		return time.Duration(e.ExpiryDays) * 24 * time.Hour
	}
	if e.Aggregation == Daily {
		return DailyExpiry
	}
	return WeeklyExpiry
}

// TrackUnique adds values (user ids by default; dim names another unique
// dimension such as "project") to the event's current HLL key.
func (t *Tracker) TrackUnique(ctx context.Context, event, dim string, values ...string) error {
	e, ok := t.Registry.Get(event)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownEvent, event)
	}
	if len(values) == 0 {
		return errors.New("no values to track")
	}
	if !t.uniqueOn(e) {
		return nil // switched off: GitLab drops the event silently
	}
	key := t.uniqueKey(e, dim, t.now())
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	pipe := t.Redis.TxPipeline()
	pipe.PFAdd(ctx, key, args...)
	pipe.Expire(ctx, key, t.expiry(e))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("track %s: %w", event, err)
	}
	return nil
}

// Increment bumps the event's counters: its RedisMetric key and, for
// internal events, the all-time and weekly totals.
func (t *Tracker) Increment(ctx context.Context, event string, by int64) error {
	e, ok := t.Registry.Get(event)
	if !ok || (e.Counter == "" && !e.Internal) {
		return fmt.Errorf("%w: %s", ErrUnknownEvent, event)
	}
	pipe := t.Redis.TxPipeline()
	if e.Counter != "" {
		pipe.IncrBy(ctx, t.Prefix+e.Counter, by)
	}
	if e.Internal {
		pipe.IncrBy(ctx, t.totalKey(event), by)
		wk := t.totalKey(event) + "-" + weekSuffix(t.now())
		pipe.IncrBy(ctx, wk, by)
		pipe.Expire(ctx, wk, WeeklyExpiry)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("increment %s: %w", event, err)
	}
	return nil
}

func (t *Tracker) totalKey(event string) string {
	return t.Prefix + "{event_counters}_" + event
}

// Counter reads a RedisMetric counter (0 when absent).
func (t *Tracker) Counter(ctx context.Context, key string) (int64, error) {
	v, err := t.Redis.Get(ctx, t.Prefix+key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}

// weeks returns the Mondays of the complete ISO weeks a window covers.
func weeks(now time.Time, timeFrame string) []time.Time {
	n := 1
	if timeFrame == "28d" {
		n = 4
	}
	d := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	wd := (int(d.Weekday()) + 6) % 7 // Monday = 0
	monday := d.AddDate(0, 0, -wd)
	out := make([]time.Time, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, monday.AddDate(0, 0, -7*i))
	}
	return out
}

func days(now time.Time, timeFrame string) []time.Time {
	n := 7
	if timeFrame == "28d" {
		n = 28
	}
	d := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	out := make([]time.Time, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, d.AddDate(0, 0, -i))
	}
	return out
}

func (t *Tracker) keys(events []string, dim, timeFrame string) ([]string, error) {
	if timeFrame != "7d" && timeFrame != "28d" {
		return nil, fmt.Errorf("unique counts need a 7d or 28d time frame, not %q", timeFrame)
	}
	var out []string
	for _, name := range events {
		e, ok := t.Registry.Get(name)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrUnknownEvent, name)
		}
		dates := weeks(t.now(), timeFrame)
		if e.Aggregation == Daily {
			dates = days(t.now(), timeFrame)
		}
		for _, d := range dates {
			out = append(out, t.uniqueKey(e, dim, d))
		}
	}
	return out, nil
}

// UniqueCount is the number of distinct values that triggered any of the
// events in the window (union, PFCOUNT over all keys).
func (t *Tracker) UniqueCount(ctx context.Context, events []string, dim, timeFrame string) (int64, error) {
	keys, err := t.keys(events, dim, timeFrame)
	if err != nil {
		return 0, err
	}
	return t.Redis.PFCount(ctx, keys...).Result()
}

// Intersection is the number of distinct values that triggered every one of
// the events in the window, by inclusion–exclusion over unions (GitLab's
// AND aggregation). At most 12 events.
func (t *Tracker) Intersection(ctx context.Context, events []string, dim, timeFrame string) (int64, error) {
	return InclusionExclusion(events, func(subset []string) (int64, error) {
		return t.UniqueCount(ctx, subset, dim, timeFrame)
	})
}

// InclusionExclusion computes the size of the intersection of the sets
// named by items from the sizes of their unions, which is all a
// HyperLogLog can answer. At most 12 items (4,095 unions).
func InclusionExclusion(items []string, union func(subset []string) (int64, error)) (int64, error) {
	n := len(items)
	if n == 0 {
		return 0, errors.New("no events")
	}
	if n > 12 {
		return 0, fmt.Errorf("AND over %d events is too expensive (max 12)", n)
	}
	var total int64
	for mask := 1; mask < 1<<n; mask++ {
		var subset []string
		for i := range n {
			if mask&(1<<i) != 0 {
				subset = append(subset, items[i])
			}
		}
		c, err := union(subset)
		if err != nil {
			return 0, err
		}
		if len(subset)%2 == 1 {
			total += c
		} else {
			total -= c
		}
	}
	return max(total, 0), nil
}
