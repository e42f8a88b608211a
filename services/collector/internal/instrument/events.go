package instrument

import (
	"github.com/serviceping/serviceping/services/collector/internal/definitions"
	"github.com/serviceping/serviceping/services/collector/internal/eventtrack"
)

// RegisterEvents adds every event the metrics and aggregates refer to, so
// the tracking endpoints accept exactly the events something counts.
// Explicit known_events entries (slot, aggregation) should be loaded first
// or after: Registry.Add merges.
func RegisterEvents(reg *eventtrack.Registry, mp *definitions.Mapping, metrics []definitions.Metric, aggs []definitions.Aggregate) {
	for _, m := range metrics {
		if !m.Emitted() {
			continue
		}
		r := mp.Resolve(m)
		switch r.DataSource {
		case "redis":
			if ev := str(r.Options, "event"); ev != "" {
				reg.Add(eventtrack.Event{Name: ev, Counter: CounterKeyOf(r.Options)})
			}
		case "redis_hll":
			for _, ev := range stringList(r.Options["events"]) {
				reg.Add(eventtrack.Event{Name: ev})
			}
		case "internal_events":
			for _, ev := range r.Events {
				reg.Add(eventtrack.Event{Name: ev.Name, Internal: true})
			}
		}
	}
	for _, a := range aggs {
		for _, ev := range a.Events {
			reg.Add(eventtrack.Event{Name: ev})
		}
	}
}
