package loader

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/tables"
)

type metrics struct {
	batches       *prometheus.CounterVec // result: written|failed
	rows          *prometheus.CounterVec // table
	batchDuration prometheus.Histogram
	pingLag       prometheus.Histogram
	messages      *prometheus.CounterVec // outcome: ack|nak|dlq
	openPings     prometheus.Gauge
	openBytes     prometheus.Gauge

	reportBatches  *prometheus.CounterVec // result: written|failed
	reportMessages *prometheus.CounterVec // outcome: ack|ack_failed|nak|dlq

	leadersRefresh *prometheus.CounterVec // result: ok|failed
	compactedDays  *prometheus.CounterVec // result: compacted|failed
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "loader", Name: "batches_total",
			Help: "Batches flushed to the sinks, by result (written, failed).",
		}, []string{"result"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "loader", Name: "rows_written_total",
			Help: "Rows written to every sink, by table.",
		}, []string{"table"}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "serviceping", Subsystem: "loader", Name: "batch_duration_seconds",
			Help:    "Time to write a batch to every sink and settle its messages.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		pingLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "serviceping", Subsystem: "loader", Name: "ping_lag_seconds",
			Help:    "Per ping written: time from the gateway receiving it (received_at) to its batch written to every sink, when it becomes queryable.",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 14), // 0.25 s .. ~34 min
		}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "loader", Name: "messages_total",
			Help: "Messages settled, by outcome (ack, ack_failed, nak, dlq).",
		}, []string{"outcome"}),
		openPings: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "serviceping", Subsystem: "loader", Name: "open_batch_messages",
			Help: "Messages held in the open batch.",
		}),
		openBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "serviceping", Subsystem: "loader", Name: "open_batch_payload_bytes",
			Help: "Payload bytes held in the open batch.",
		}),
		reportBatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "loader", Name: "report_batches_total",
			Help: "Batches of the REPORTS stream written to ClickHouse, by result (written, failed).",
		}, []string{"result"}),
		reportMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "loader", Name: "report_messages_total",
			Help: "REPORTS messages settled, by outcome (ack, ack_failed, nak, dlq).",
		}, []string{"outcome"}),
		leadersRefresh: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "loader", Name: "devops_leaders_refreshes_total",
			Help: "DevOps Score leader refreshes from the warehouse, by result (ok, failed).",
		}, []string{"result"}),
		compactedDays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "loader", Name: "lake_compacted_days_total",
			Help: "Lake days compacted by LOADER_LAKE_COMPACT_INTERVAL, by result (compacted, failed).",
		}, []string{"result"}),
	}
	err := lifecycle.Register(reg, m.batches, m.rows, m.batchDuration, m.pingLag, m.messages, m.openPings, m.openBytes,
		m.reportBatches, m.reportMessages, m.leadersRefresh, m.compactedDays)
	if err != nil {
		return nil, fmt.Errorf("register loader metrics: %w", err)
	}
	for _, r := range []string{"written", "failed"} {
		m.batches.WithLabelValues(r)
		m.reportBatches.WithLabelValues(r)
	}
	for _, t := range []string{tables.Pings, tables.Metrics, tables.Errors, tables.Timings} {
		m.rows.WithLabelValues(t)
	}
	for _, o := range []string{"ack", "ack_failed", "nak", "dlq"} {
		m.messages.WithLabelValues(o)
		m.reportMessages.WithLabelValues(o)
	}
	return m, nil
}

// pings are the PINGS consumer's series.
func (m *metrics) pings() streamMetrics {
	return streamMetrics{batches: m.batches, messages: m.messages, duration: m.batchDuration,
		openMessages: m.openPings, openBytes: m.openBytes}
}

// reports are the REPORTS consumer's series.
func (m *metrics) reports() streamMetrics {
	return streamMetrics{batches: m.reportBatches, messages: m.reportMessages}
}
