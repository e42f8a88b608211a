package gateway

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/metric"
)

type metrics struct {
	requests        *prometheus.CounterVec   // route, code
	duration        *prometheus.HistogramVec // route
	payloadBytes    *prometheus.HistogramVec // route, form (wire|decoded)
	publishDuration *prometheus.HistogramVec // subject, result
	inflight        prometheus.Gauge
	rejections      *prometheus.CounterVec // reason
	duplicates      *prometheus.CounterVec // subject
	devopsScores    *prometheus.CounterVec // outcome
	devopsReads     *prometheus.CounterVec // source: replica|bucket
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	sizeBuckets := prometheus.ExponentialBuckets(1<<10, 2, 16) // 1 KiB .. 32 MiB
	var s metric.Set
	m := &metrics{
		requests: s.CounterVec("serviceping_gateway_requests_total",
			"HTTP requests by route and status code.", "route", "code"),
		duration: s.HistogramVec("serviceping_gateway_request_duration_seconds",
			"HTTP request latency by route, from headers read to response written.",
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "route"),
		payloadBytes: s.HistogramVec("serviceping_gateway_payload_bytes",
			"Accepted body sizes: as received (wire) and after decompression (decoded).", sizeBuckets, "route", "form"),
		publishDuration: s.HistogramVec("serviceping_gateway_publish_duration_seconds",
			"Time from JetStream publish to acknowledgement (or failure).",
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, "subject", "result"),
		inflight: s.Gauge("serviceping_gateway_inflight_requests",
			"Ingest requests holding a slot (reading, validating or publishing)."),
		rejections: s.CounterVec("serviceping_gateway_rejections_total",
			"Requests not accepted, by reason (the error code answered).", "reason"),
		duplicates: s.CounterVec("serviceping_gateway_duplicates_total",
			"Accepted resubmissions JetStream recognised by their message id.", "subject"),
		devopsScores: s.CounterVec("serviceping_gateway_devops_scores_total",
			"Accepted pings by DevOps Score outcome: scored, first_ping (usage_data_id only), resubmitted "+
				"(the first answer again), unavailable (state unreadable: usage_data_id only).", "outcome"),
		devopsReads: s.CounterVec("serviceping_gateway_devops_state_reads_total",
			"Where the DevOps Score state of a ping came from: replica (in memory, kept by watching the bucket) or bucket (a read per ping).", "source"),
	}
	if err := s.Register(reg); err != nil {
		return nil, fmt.Errorf("register gateway metrics: %w", err)
	}
	return m, nil
}
