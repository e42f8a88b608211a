package loader

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/consume"
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

// ReportsConsumerConfig is the durable consumer on REPORTS the loader
// creates or updates when it loads reports. It shares the pings
// consumer's name, ack wait and MaxAckPending.
func (c Config) ReportsConsumerConfig() jetstream.ConsumerConfig {
	return streams.Consumer(streams.ConsumerLoader, streams.ConsumerOptions{
		AckWait:       c.AckWait,
		MaxAckPending: c.MaxAckPending,
		MaxDeliver:    -1,
	}, streams.SubjectErrors, streams.SubjectMetadata)
}

// reportLoader batches REPORTS messages into ping_errors and
// ping_metric_timings. Batches close at BatchMaxPings messages or
// BatchMaxAge, like the pings'.
type reportLoader struct {
	l      *Loader
	w      ReportWriter
	settle settler
	failed int // consecutive failed flushes

	msgs    []jetstream.Msg
	reports []rows.Report // parallel to msgs
	started time.Time
}

func (r *reportLoader) spec() pullSpec {
	cfg := r.l.cfg
	return pullSpec{stream: streams.Reports, consumer: cfg.ReportsConsumerConfig(), maxMsgs: cfg.BatchMaxPings, maxAge: cfg.BatchMaxAge}
}

func (r *reportLoader) run(ctx, flushCtx context.Context, cons jetstream.Consumer) error {
	r.l.log.Info("loading reports", "stream", streams.Reports, "consumer", streams.ConsumerLoader)
	r.l.pull(ctx, flushCtx, cons, r.spec(), r)
	if err := r.flush(flushCtx); err != nil {
		return fmt.Errorf("flush open reports batch at shutdown: %w", err)
	}
	return nil
}

func (r *reportLoader) pending() (int, time.Time) { return len(r.msgs), r.started }
func (r *reportLoader) full() bool                { return len(r.msgs) >= r.l.cfg.BatchMaxPings }
func (r *reportLoader) failures() int             { return r.failed }

// add decodes msg into the open batch, or dead-letters it.
func (r *reportLoader) add(ctx context.Context, msg jetstream.Msg) {
	rep, err := decodeReport(msg)
	if err != nil {
		r.settle.deadLetter(ctx, msg, err)
		return
	}
	if len(r.msgs) == 0 {
		r.started = time.Now()
	}
	r.msgs = append(r.msgs, msg)
	r.reports = append(r.reports, rep)
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

// flush writes the open batch, retrying as the pings' flush does, then
// acknowledges its messages; a transient failure Naks them with a delay,
// a permanent one isolates the report that cannot be written.
func (r *reportLoader) flush(ctx context.Context) error {
	if len(r.msgs) == 0 {
		return nil
	}
	msgs, reps := r.msgs, r.reports
	r.msgs, r.reports = nil, nil
	l := r.l
	b := rows.NewReportBatch(reps)
	err := l.writeRetrying(ctx, &r.settle, msgs, func(ctx context.Context) error { return r.w.WriteReports(ctx, b) },
		"stream", streams.Reports, "reports", len(msgs))
	switch {
	case err == nil:
		r.failed = 0
		r.settle.ackAll(ctx, msgs)
		r.written(b)
		return nil
	case consume.IsPermanent(err):
		l.m.reportBatches.WithLabelValues("failed").Inc()
		l.log.Warn("reports batch holds a report that cannot be loaded; writing them one by one", "stream", streams.Reports, "reports", len(msgs), "err", err)
		r.isolate(ctx, msgs, reps)
	default:
		r.failed++
		l.m.reportBatches.WithLabelValues("failed").Inc()
		l.log.Error("reports batch write failed; its messages will be redelivered", "stream", streams.Reports, "reports", len(msgs), "err", err)
		r.settle.nakAll(msgs)
	}
	return fmt.Errorf("write reports batch: %w", err)
}

// isolate writes each report of a batch that failed permanently on its
// own: one failing permanently again is dead-lettered, one failing
// transiently Nak'ed, the others acknowledged.
func (r *reportLoader) isolate(ctx context.Context, msgs []jetstream.Msg, reps []rows.Report) {
	for i, msg := range msgs {
		b := rows.NewReportBatch(reps[i : i+1])
		wctx, cancel := context.WithTimeout(ctx, r.l.cfg.WriteTimeout)
		err := r.w.WriteReports(wctx, b)
		cancel()
		switch {
		case err == nil:
			r.settle.ackAll(ctx, msgs[i:i+1])
			r.written(b)
		case consume.IsPermanent(err):
			r.settle.deadLetter(ctx, msg, fmt.Errorf("load report: %w", err))
		default:
			r.l.m.reportBatches.WithLabelValues("failed").Inc()
			r.settle.nakAll(msgs[i : i+1])
		}
	}
}

func (r *reportLoader) written(b rows.ReportBatch) {
	m := r.l.m
	m.reportBatches.WithLabelValues("written").Inc()
	m.rows.WithLabelValues(tables.Errors).Add(float64(len(b.Errors)))
	m.rows.WithLabelValues(tables.Timings).Add(float64(b.NumTimings()))
}
