package loader

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/metric"
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
	var s metric.Set
	m := &metrics{
		batches: s.CounterVec("serviceping_loader_batches_total",
			"Batches flushed to the sinks, by result (written, failed).", "result"),
		rows: s.CounterVec("serviceping_loader_rows_written_total",
			"Rows written to every sink, by table.", "table"),
		batchDuration: s.Histogram("serviceping_loader_batch_duration_seconds",
			"Time to write a batch to every sink and settle its messages.",
			prometheus.ExponentialBuckets(0.01, 2, 14)),
		pingLag: s.Histogram("serviceping_loader_ping_lag_seconds",
			"Per ping written: time from the gateway receiving it (received_at) to its batch written to every sink, when it becomes queryable.",
			prometheus.ExponentialBuckets(0.25, 2, 14)), // 0.25 s .. ~34 min
		messages: s.CounterVec("serviceping_loader_messages_total",
			"Messages settled, by outcome (ack, ack_failed, nak, dlq).", "outcome"),
		openPings: s.Gauge("serviceping_loader_open_batch_messages",
			"Messages held in the open batch."),
		openBytes: s.Gauge("serviceping_loader_open_batch_payload_bytes",
			"Payload bytes held in the open batch."),
		reportBatches: s.CounterVec("serviceping_loader_report_batches_total",
			"Batches of the REPORTS stream written to ClickHouse, by result (written, failed).", "result"),
		reportMessages: s.CounterVec("serviceping_loader_report_messages_total",
			"REPORTS messages settled, by outcome (ack, ack_failed, nak, dlq).", "outcome"),
		leadersRefresh: s.CounterVec("serviceping_loader_devops_leaders_refreshes_total",
			"DevOps Score leader refreshes from the warehouse, by result (ok, failed).", "result"),
		compactedDays: s.CounterVec("serviceping_loader_lake_compacted_days_total",
			"Lake days compacted by LOADER_LAKE_COMPACT_INTERVAL, by result (compacted, failed).", "result"),
	}
	if err := s.Register(reg); err != nil {
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
