package instrument

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/axiomhq/hyperloglog"

	"github.com/serviceping/serviceping/services/collector/internal/definitions"
	"github.com/serviceping/serviceping/services/collector/internal/eventtrack"
)

// internalEvents computes an internal events metric. Its class is implied
// by its events, as GitLab's loader does: operator sum(value) →
// TotalSumMetric, unique → UniqueCountMetric (by user.id, project.id,
// namespace.id, label, property or value), neither → TotalCountMetric.
// Each event may carry a property filter.
func (e *Env) internalEvents(ctx context.Context, r definitions.Resolved) (any, error) {
	t, err := e.tracker()
	if err != nil {
		return nil, err
	}
	if len(r.Events) == 0 {
		return nil, errors.New("internal_events metric without events")
	}
	unique, op := r.Events[0].Unique, r.Events[0].Operator
	sel := make([]eventtrack.Selector, 0, len(r.Events))
	for _, ev := range r.Events {
		if ev.Unique != unique {
			return nil, errors.New("events mix unique properties")
		}
		if ev.Operator != op {
			return nil, errors.New("events mix operators")
		}
		sel = append(sel, eventtrack.Selector{Event: ev.Name, Filter: ev.Filter})
	}
	switch {
	case op == "sum(value)":
		return t.SumOf(ctx, sel, r.TimeFrame)
	case op != "":
		return nil, fmt.Errorf("operator %q is not supported (sum(value))", op)
	case unique != "":
		n, err := t.UniqueOf(ctx, sel, eventtrack.DimensionOf(unique), r.TimeFrame)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCounter, err)
		}
		return n, nil
	}
	return t.TotalOf(ctx, sel, r.TimeFrame)
}

// aggregatedMetric is GitLab's AggregatedMetric class: options.aggregate
// {operator: OR|AND, attribute: user_id|project_id|…} over the events of
// options.events or the top-level list, within 7d or 28d.
func (e *Env) aggregatedMetric(ctx context.Context, r definitions.Resolved) (any, error) {
	t, err := e.tracker()
	if err != nil {
		return nil, err
	}
	agg, _ := r.Options["aggregate"].(map[string]any)
	op := str(agg, "operator")
	if op == "" {
		op = "OR"
	}
	dim := "user"
	if a := str(agg, "attribute"); a != "" {
		dim = eventtrack.DimensionOf(a)
		if len(dim) > 3 && dim[len(dim)-3:] == "_id" {
			dim = dim[:len(dim)-3]
		}
	}
	events := HLLEvents(r)
	if len(events) == 0 {
		return nil, errors.New("aggregated metric without events")
	}
	var n int64
	switch op {
	case "OR":
		n, err = t.UniqueCount(ctx, events, dim, r.TimeFrame)
	case "AND":
		n, err = t.Intersection(ctx, events, dim, r.TimeFrame)
	default:
		return nil, fmt.Errorf("aggregate operator %q is not OR or AND", op)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCounter, err)
	}
	return n, nil
}

// AggregateValue computes an aggregated metric of the aggregates files (OR
// = union, AND = intersection): redis ones from the events' HLL keys,
// database ones from the sketches this payload's estimates saved.
func (e *Env) AggregateValue(ctx context.Context, a definitions.Aggregate, timeFrame string) (any, error) {
	t, err := e.tracker()
	if err != nil {
		return nil, err
	}
	union := func(subset []string) (int64, error) { return t.UniqueCount(ctx, subset, "user", timeFrame) }
	if a.Source == "database" && e.Mode != ModeValues {
		return SQLMetricDefault, nil // built from SQL metrics' estimates
	}
	if a.Source == "database" {
		union = func(subset []string) (int64, error) { return e.sketchUnion(ctx, subset, timeFrame) }
	}
	var n int64
	if a.Operator == "AND" {
		n, err = eventtrack.InclusionExclusion(a.Events, union)
	} else {
		n, err = union(a.Events)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCounter, err)
	}
	return n, nil
}

// sketchTTL bounds how long a saved estimate sketch can be aggregated.
const sketchTTL = 24 * time.Hour

func (e *Env) sketchKey(name, timeFrame string) string {
	return fmt.Sprintf("{aggregated_metrics}_%s-%s-%d", name, timeFrame, e.now().Unix())
}

// saveSketch keeps an estimate's sketch for the database-sourced aggregated
// metrics of the same payload (GitLab's save_aggregated_metrics). Without
// Redis the aggregates fail on their own; the metric itself does not.
func (e *Env) saveSketch(ctx context.Context, name, timeFrame string, sk *hyperloglog.Sketch) {
	t, err := e.tracker()
	if err != nil {
		return
	}
	b, err := sk.MarshalBinary()
	if err != nil {
		return
	}
	_ = t.Redis.Set(ctx, t.Prefix+e.sketchKey(name, timeFrame), b, sketchTTL).Err()
}

func (e *Env) sketchUnion(ctx context.Context, names []string, timeFrame string) (int64, error) {
	t, err := e.tracker()
	if err != nil {
		return 0, err
	}
	union := hyperloglog.New16()
	for _, n := range names {
		b, err := t.Redis.Get(ctx, t.Prefix+e.sketchKey(n, timeFrame)).Bytes()
		if err != nil {
			return 0, fmt.Errorf("no %s estimate saved by this payload for %s: %w", timeFrame, n, err)
		}
		sk := hyperloglog.New16()
		if err := sk.UnmarshalBinary(b); err != nil {
			return 0, fmt.Errorf("decode %s sketch: %w", n, err)
		}
		if err := union.Merge(sk); err != nil {
			return 0, fmt.Errorf("merge %s sketch: %w", n, err)
		}
	}
	return int64(union.Estimate()), nil
}
