package gateway

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/lifecycle"
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
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "gateway", Name: "requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "serviceping", Subsystem: "gateway", Name: "request_duration_seconds",
			Help:    "HTTP request latency by route, from headers read to response written.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		payloadBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "serviceping", Subsystem: "gateway", Name: "payload_bytes",
			Help:    "Accepted body sizes: as received (wire) and after decompression (decoded).",
			Buckets: sizeBuckets,
		}, []string{"route", "form"}),
		publishDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "serviceping", Subsystem: "gateway", Name: "publish_duration_seconds",
			Help:    "Time from JetStream publish to acknowledgement (or failure).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"subject", "result"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "serviceping", Subsystem: "gateway", Name: "inflight_requests",
			Help: "Ingest requests holding a slot (reading, validating or publishing).",
		}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "gateway", Name: "rejections_total",
			Help: "Requests not accepted, by reason (the error code answered).",
		}, []string{"reason"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "gateway", Name: "duplicates_total",
			Help: "Accepted resubmissions JetStream recognised by their message id.",
		}, []string{"subject"}),
		devopsScores: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "gateway", Name: "devops_scores_total",
			Help: "Accepted pings by DevOps Score outcome: scored, first_ping (usage_data_id only), resubmitted " +
				"(the first answer again), unavailable (state unreadable: usage_data_id only).",
		}, []string{"outcome"}),
		devopsReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "gateway", Name: "devops_state_reads_total",
			Help: "Where the DevOps Score state of a ping came from: replica (in memory, kept by watching the bucket) or bucket (a read per ping).",
		}, []string{"source"}),
	}
	err := lifecycle.Register(reg, m.requests, m.duration, m.payloadBytes, m.publishDuration, m.inflight, m.rejections, m.duplicates, m.devopsScores, m.devopsReads)
	if err != nil {
		return nil, fmt.Errorf("register gateway metrics: %w", err)
	}
	return m, nil
}
