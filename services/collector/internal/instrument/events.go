package instrument

import (
	"github.com/serviceping/serviceping/services/collector/internal/definitions"
	"github.com/serviceping/serviceping/services/collector/internal/eventtrack"
)

// RegisterEvents adds every event the metrics and aggregates refer to, so
// the tracking endpoints accept exactly the events something counts, and
// record for each internal event the filters, unique dimensions and sums
// its metrics read. Explicit known_events entries (slot, aggregation)
// should be loaded first or after: Registry.Add merges.
func RegisterEvents(reg *eventtrack.Registry, mp *definitions.Mapping, metrics []definitions.Metric, aggs []definitions.Aggregate) {
	for _, m := range metrics {
		if !m.Emitted() {
			continue
		}
		r := mp.Resolve(m)
		switch r.Source {
		case "redis":
			if ev := str(r.Options, "event"); ev != "" {
				reg.Add(eventtrack.Event{Name: ev, Counter: CounterKeyOf(r.Options)})
			}
		case "redis_hll", "aggregate":
			for _, ev := range HLLEvents(r) {
				reg.Add(eventtrack.Event{Name: ev})
			}
		case "internal_events":
			for _, ev := range r.Events {
				e := eventtrack.Event{Name: ev.Name, Internal: true, Sums: ev.Operator == "sum(value)"}
				if len(ev.Filter) > 0 {
					e.Filters = []map[string]any{ev.Filter}
				}
				if ev.Unique != "" {
					e.Uniques = []string{eventtrack.DimensionOf(ev.Unique)}
				}
				reg.Add(e)
			}
		}
	}
	for _, a := range aggs {
		if a.Source == "database" {
			continue // metric names, not events
		}
		for _, ev := range a.Events {
			reg.Add(eventtrack.Event{Name: ev})
		}
	}
}
