package chhttp

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/metric"
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
	var s metric.Set
	m := &metrics{
		queries: s.CounterVec("serviceping_chhttp_queries_total",
			"Statements received by the ClickHouse HTTP endpoint, by kind.", "kind"),
		errors: s.CounterVec("serviceping_chhttp_errors_total",
			"Failed statements, by ClickHouse error code.", "code"),
		duration: s.HistogramVec("serviceping_chhttp_query_duration_seconds",
			"Time from request to response, by statement kind.", prometheus.ExponentialBuckets(0.001, 4, 10), "kind"),
		rowsWritten: s.Counter("serviceping_chhttp_written_rows_total",
			"Rows written by INSERT statements."),
		inFlight: s.Gauge("serviceping_chhttp_in_flight_requests",
			"Requests being served (waiting for or holding the engine)."),
		sessions: s.Gauge("serviceping_chhttp_sessions",
			"Sessions kept (session_id), each an engine connection of its own."),
		cancelled: s.Counter("serviceping_chhttp_cancelled_total",
			"Statements stopped because their client went away."),
	}
	if err := s.Register(reg); err != nil {
		return nil, fmt.Errorf("register chhttp metrics: %w", err)
	}
	return m, nil
}
