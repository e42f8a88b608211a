package eventtrack

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// ErrAPIDisabled is the usage_data_api feature flag off: the tracking
// endpoints answer 404 as GitLab's do.
var ErrAPIDisabled = errors.New("the usage data API is disabled (feature flag usage_data_api)")

// APIAllowed decides a call of a tracking endpoint for event: an error when
// the endpoints are off (usage_data_api), false when this event is
// (usage_data_<event>: the call succeeds and records nothing).
func (t *Tracker) APIAllowed(event string) (bool, error) {
	if !t.Enabled("usage_data_api") {
		return false, ErrAPIDisabled
	}
	return t.Enabled("usage_data_" + event), nil
}

// ErrBadValue is an occurrence whose value a metric sums but that is not a
// number.
var ErrBadValue = errors.New("value is not a number")

// Occurrence is one internal event as instance code reports it (GitLab's
// Gitlab::InternalEvents.track_event): who and where, plus the standard
// additional properties label, property and value and any custom ones.
type Occurrence struct {
	Event       string
	UserID      string
	ProjectID   string
	NamespaceID string
	// Properties holds label, property, value and custom keys.
	Properties map[string]any
}

// property is the occurrence's value for a unique dimension or filter key.
func (o Occurrence) property(k string) (string, bool) {
	switch k {
	case "user":
		return o.UserID, o.UserID != ""
	case "project":
		return o.ProjectID, o.ProjectID != ""
	case "namespace":
		return o.NamespaceID, o.NamespaceID != ""
	}
	v, ok := o.Properties[k]
	if !ok || v == nil {
		return "", false
	}
	return fmt.Sprint(v), true
}

// matches reports whether every key of the filter has the occurrence's
// value (compared as text: a YAML 30 matches a JSON 30).
func (o Occurrence) matches(f map[string]any) bool {
	for k, want := range f {
		got, ok := o.property(k)
		if !ok || got != fmt.Sprint(want) {
			return false
		}
	}
	return true
}

// Track records an internal event: for the unfiltered case and each filter
// the metric definitions registered that the occurrence matches, the total
// (all time and this ISO week), the sum of its value when a metric sums it,
// and its distinct users, projects, namespaces, labels, properties or
// values when a metric counts them.
func (t *Tracker) Track(ctx context.Context, o Occurrence) error {
	e, ok := t.Registry.Get(o.Event)
	if !ok || !e.Internal {
		return fmt.Errorf("%w: %s", ErrUnknownEvent, o.Event)
	}
	var sum float64
	hasSum := false
	if v, ok := o.property("value"); ok && e.Sums {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("track %s: %w: %q", o.Event, ErrBadValue, v)
		}
		sum, hasSum = f, true
	}
	now := t.now()
	week := "-" + weekSuffix(now)
	pipe := t.Redis.TxPipeline()
	for _, f := range append([]map[string]any{nil}, e.Filters...) {
		if !o.matches(f) {
			continue
		}
		suffix := FilterSuffix(f)
		total := t.totalKey(o.Event) + suffix
		pipe.Incr(ctx, total)
		pipe.Incr(ctx, total+week)
		pipe.Expire(ctx, total+week, WeeklyExpiry)
		if hasSum {
			sk := t.sumKey(o.Event) + suffix
			pipe.IncrByFloat(ctx, sk, sum)
			pipe.IncrByFloat(ctx, sk+week, sum)
			pipe.Expire(ctx, sk+week, WeeklyExpiry)
		}
		for _, dim := range e.Uniques {
			v, ok := o.property(dim)
			if !ok || !t.uniqueOn(e) {
				continue
			}
			key := t.uniqueKey(e, dim+suffix, now)
			pipe.PFAdd(ctx, key, v)
			pipe.Expire(ctx, key, t.expiry(e))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("track %s: %w", o.Event, err)
	}
	return nil
}

func (t *Tracker) sumKey(event string) string {
	return t.Prefix + "{event_sums}_" + event
}

// Selector is one event of an internal events metric: its name and the
// filter it is counted under (nil: unfiltered).
type Selector struct {
	Event  string
	Filter map[string]any
}

func (t *Tracker) windowKeys(base, timeFrame string) ([]string, error) {
	switch timeFrame {
	case "all", "none", "":
		return []string{base}, nil
	case "7d", "28d":
		ws := weeks(t.now(), timeFrame)
		keys := make([]string, len(ws))
		for i, w := range ws {
			keys[i] = base + "-" + weekSuffix(w)
		}
		return keys, nil
	}
	return nil, fmt.Errorf("unknown time frame %q", timeFrame)
}

// TotalOf sums the events' totals under their filters over the window
// (TotalCountMetric).
func (t *Tracker) TotalOf(ctx context.Context, sel []Selector, timeFrame string) (int64, error) {
	f, err := t.sumKeys(ctx, sel, timeFrame, t.totalKey)
	return int64(f), err
}

// SumOf sums the events' values under their filters over the window
// (TotalSumMetric, operator sum(value)); integral sums come back as int64.
func (t *Tracker) SumOf(ctx context.Context, sel []Selector, timeFrame string) (any, error) {
	f, err := t.sumKeys(ctx, sel, timeFrame, t.sumKey)
	if err != nil {
		return nil, err
	}
	if f == float64(int64(f)) {
		return int64(f), nil
	}
	return f, nil
}

func (t *Tracker) sumKeys(ctx context.Context, sel []Selector, timeFrame string, base func(string) string) (float64, error) {
	var keys []string
	for _, s := range sel {
		if _, ok := t.Registry.Get(s.Event); !ok {
			return 0, fmt.Errorf("%w: %s", ErrUnknownEvent, s.Event)
		}
		ks, err := t.windowKeys(base(s.Event)+FilterSuffix(s.Filter), timeFrame)
		if err != nil {
			return 0, err
		}
		keys = append(keys, ks...)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	vals, err := t.Redis.MGet(ctx, keys...).Result()
	if err != nil {
		return 0, err
	}
	var total float64
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("counter value %q: %w", s, err)
		}
		total += f
	}
	return total, nil
}

// UniqueOf counts the distinct values of dim over the events under their
// filters in the window (UniqueCountMetric): one PFCOUNT over all keys.
func (t *Tracker) UniqueOf(ctx context.Context, sel []Selector, dim, timeFrame string) (int64, error) {
	var keys []string
	for _, s := range sel {
		ks, err := t.keys([]string{s.Event}, dim+FilterSuffix(s.Filter), timeFrame)
		if err != nil {
			return 0, err
		}
		keys = append(keys, ks...)
	}
	return t.Redis.PFCount(ctx, keys...).Result()
}

// Text reads a plain string key (nil when absent).
func (t *Tracker) Text(ctx context.Context, key string) (any, error) {
	v, err := t.Redis.Get(ctx, t.Prefix+key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}
