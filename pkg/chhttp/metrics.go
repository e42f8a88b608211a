package chhttp

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	queries     *prometheus.CounterVec
	errors      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	rowsWritten prometheus.Counter
	inFlight    prometheus.Gauge
	sessions    prometheus.Gauge
	cancelled   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "chhttp", Name: "queries_total",
			Help: "Statements received by the ClickHouse HTTP endpoint, by kind.",
		}, []string{"kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "chhttp", Name: "errors_total",
			Help: "Failed statements, by ClickHouse error code.",
		}, []string{"code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "serviceping", Subsystem: "chhttp", Name: "query_duration_seconds",
			Help:    "Time from request to response, by statement kind.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"kind"}),
		rowsWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "chhttp", Name: "written_rows_total",
			Help: "Rows written by INSERT statements.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "serviceping", Subsystem: "chhttp", Name: "in_flight_requests",
			Help: "Requests being served (waiting for or holding the engine).",
		}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "serviceping", Subsystem: "chhttp", Name: "sessions",
			Help: "Sessions kept (session_id), each an engine connection of its own.",
		}),
		cancelled: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "chhttp", Name: "cancelled_total",
			Help: "Statements stopped because their client went away.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.queries, m.errors, m.duration, m.rowsWritten, m.inFlight, m.sessions, m.cancelled} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register chhttp metrics: %w", err)
		}
	}
	return m, nil
}
