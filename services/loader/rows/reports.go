package rows

import servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"

// Report is one message of the REPORTS stream: exactly one of Error and
// Timings is set.
type Report struct {
	// Error is an error report: one ping_errors row.
	Error *servicepingv1.ErrorReport
	// Timings are the metric timings of one ping: one ping_metric_timings
	// row per metric.
	Timings *servicepingv1.MetricTimings
}

// ReportBatch is a batch of REPORTS messages: error reports (one
// ping_errors row each) and metric timings (one ping_metric_timings row
// per metric). Every report must carry a report_id and a received_at.
type ReportBatch struct {
	Errors  []*servicepingv1.ErrorReport
	Timings []*servicepingv1.MetricTimings
}

// NewReportBatch sorts reports, in stream order, into a batch.
func NewReportBatch(reports []Report) ReportBatch {
	var b ReportBatch
	for _, r := range reports {
		if r.Error != nil {
			b.Errors = append(b.Errors, r.Error)
		} else {
			b.Timings = append(b.Timings, r.Timings)
		}
	}
	return b
}

// NumTimings is the number of ping_metric_timings rows of b, copies of a
// report included.
func (b ReportBatch) NumTimings() int {
	n := 0
	for _, t := range b.Timings {
		n += len(t.GetMetrics())
	}
	return n
}
