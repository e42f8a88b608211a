package loader

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/tables"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/rows"
	"github.com/serviceping/serviceping/services/loader/warehouse"
)

// ReportWriter lands batches of the REPORTS stream (error reports and
// metric timings) in the warehouse; *warehouse.Sink implements it.
// WriteReports blocks until the batch is durable or returns an error, and
// must be idempotent: writing the same reports again is a no-op. An error
// marked consume.Permanent says some report can never be written (the
// loader then writes the reports one by one and dead-letters those that
// fail permanently again); any other error is transient.
type ReportWriter interface {
	WriteReports(ctx context.Context, b rows.ReportBatch) error
}

var _ ReportWriter = (*warehouse.Sink)(nil)

// reportBatcher is the REPORTS consumer's batcher: messages become
// rows.Report by their subject, a batch is a rows.ReportBatch written to
// the ReportWriter. Reports count no payload bytes: BatchMaxPings and
// BatchMaxAge close their batches.
type reportBatcher struct {
	w       ReportWriter
	rows    *prometheus.CounterVec // table
	reports []rows.Report          // parallel to the consumer's open messages
}

func (r *reportBatcher) add(msg jetstream.Msg) (int64, error) {
	rep, err := decodeReport(msg)
	if err != nil {
		return 0, err
	}
	r.reports = append(r.reports, rep)
	return 0, nil
}

func (r *reportBatcher) take() batch {
	reps := r.reports
	r.reports = nil
	return reportBatch{r: r, b: rows.NewReportBatch(reps), reports: reps}
}

// decodeReport decodes a REPORTS message by its subject. A report without
// received_at gets the message's stream time (the same on every delivery).
func decodeReport(msg jetstream.Msg) (rows.Report, error) {
	var (
		rep rows.Report
		m   interface {
			proto.Message
			GetReportId() string
			GetReceivedAt() *timestamppb.Timestamp
		}
	)
	switch msg.Subject() {
	case streams.SubjectErrors:
		rep.Error = &servicepingv1.ErrorReport{}
		m = rep.Error
	case streams.SubjectMetadata:
		rep.Timings = &servicepingv1.MetricTimings{}
		m = rep.Timings
	default:
		return rows.Report{}, fmt.Errorf("unexpected subject %s on stream %s", msg.Subject(), streams.Reports)
	}
	if err := proto.Unmarshal(msg.Data(), m); err != nil {
		return rows.Report{}, fmt.Errorf("decode report on %s: %w", msg.Subject(), err)
	}
	if m.GetReportId() == "" {
		return rows.Report{}, fmt.Errorf("report on %s has no report_id", msg.Subject())
	}
	if m.GetReceivedAt() == nil {
		md, err := msg.Metadata()
		if err != nil {
			return rows.Report{}, fmt.Errorf("report %s has no received_at and no stream time: %w", m.GetReportId(), err)
		}
		ts := timestamppb.New(md.Timestamp)
		if rep.Error != nil {
			rep.Error.ReceivedAt = ts
		} else {
			rep.Timings.ReceivedAt = ts
		}
	}
	return rep, nil
}

// reportBatch is a closed batch of reports.
type reportBatch struct {
	r       *reportBatcher
	b       rows.ReportBatch
	reports []rows.Report // one per message
}

func (r reportBatch) write(ctx context.Context) error { return r.r.w.WriteReports(ctx, r.b) }
func (r reportBatch) logArgs() []any                  { return []any{"reports", len(r.reports)} }
func (r reportBatch) String() string                  { return "reports batch" }

func (r reportBatch) countRows() {
	r.r.rows.WithLabelValues(tables.Errors).Add(float64(len(r.b.Errors)))
	r.r.rows.WithLabelValues(tables.Timings).Add(float64(r.b.NumTimings()))
}

// split makes a part of each report.
func (r reportBatch) split() []part {
	parts := make([]part, len(r.reports))
	for i := range r.reports {
		one := r.reports[i : i+1]
		parts[i] = part{batch: reportBatch{r: r.r, b: rows.NewReportBatch(one), reports: one}, msgs: []int{i}, what: "report"}
	}
	return parts
}
