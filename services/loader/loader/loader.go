// Package loader consumes enriched pings from JetStream and loads them, in
// batches, into every configured sink (the Parquet lake and ClickHouse).
// With a warehouse it also consumes the REPORTS stream (error reports and
// metric timings) into ClickHouse's ping_errors and ping_metric_timings.
// A message is acknowledged only after its batch is durable; a failed
// write Naks the whole batch with a growing delay, and a message that can
// never be loaded is dead-lettered at once without holding up the others.
package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/consume"
	"github.com/serviceping/serviceping/pkg/devopsscore"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/tables"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// Sink makes batches durable. Write blocks until every row of b is durable
// (or returns an error); the loader acknowledges the batch's messages only
// after every sink returned nil. Write must be idempotent per batch ID:
// writing a batch again replaces what an earlier, possibly partial, write
// of the same ID left. An error marked consume.Permanent says some row of
// the batch can never be written: the loader then writes the batch's pings
// one by one and dead-letters those that fail permanently again, with the
// reason. Any other error is transient (the batch is retried, then
// redelivered later). Sinks of one loader are called concurrently, each
// with one batch at a time.
type Sink interface {
	Write(ctx context.Context, b rows.Batch) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, b rows.Batch) error

// Write calls f.
func (f SinkFunc) Write(ctx context.Context, b rows.Batch) error { return f(ctx, b) }

// Deps are the loader's collaborators.
type Deps struct {
	JS jetstream.JetStream
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Registerer receives the loader's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Sinks receive every batch; at least one.
	Sinks []Sink
	// Reports, when set, makes Run also consume the REPORTS stream into
	// it (the warehouse; reports have no lake output). Nil leaves REPORTS
	// unconsumed.
	Reports ReportWriter
	// Population, when set, makes Run refresh the DevOps Score leaders from
	// it every Config.DevOpsLeadersInterval (the warehouse).
	Population PopulationReader
	// Now defaults to time.Now.
	Now func() time.Time
}

// Loader is the batching consumer. Run it once.
type Loader struct {
	cfg     Config
	js      jetstream.JetStream
	log     *slog.Logger
	m       *metrics
	sinks   []Sink
	builder rows.Builder
	settle  settler       // the pings consumer's
	reports *reportLoader // nil without Deps.Reports
	leaders *leaders      // nil without Deps.Population

	started     atomic.Bool
	stopOnce    sync.Once
	stop        chan struct{}
	shutdownCtx context.Context // set before stop is closed
	done        chan struct{}
	runErr      error
	halt        <-chan struct{} // closed when Run must stop fetching
	failures    int             // consecutive failed flushes
}

// New checks cfg and deps and returns a loader ready to Run.
func New(cfg Config, deps Deps) (*Loader, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if deps.JS == nil {
		errs = append(errs, errors.New("loader needs a JetStream context"))
	}
	if len(deps.Sinks) == 0 {
		errs = append(errs, errors.New("loader needs at least one sink"))
	}
	for i, s := range deps.Sinks {
		if s == nil {
			errs = append(errs, fmt.Errorf("sink %d is nil", i))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("configure loader: %w", err)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	reg := deps.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register loader metrics: %w", err)
	}
	l := &Loader{
		cfg: cfg, js: deps.JS, log: log, m: m, sinks: deps.Sinks,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	l.settle = settler{js: deps.JS, log: log, stream: streams.Pings, outcomes: m.messages, ackWait: cfg.AckWait, nakDelayMax: cfg.NakDelayMax}
	if deps.Reports != nil {
		l.reports = &reportLoader{l: l, w: deps.Reports,
			settle: settler{js: deps.JS, log: log, stream: streams.Reports, outcomes: m.reportMessages, ackWait: cfg.AckWait, nakDelayMax: cfg.NakDelayMax}}
	}
	if deps.Population != nil {
		now := deps.Now
		if now == nil {
			now = time.Now
		}
		l.leaders = &leaders{pop: deps.Population, bucket: devopsscore.Opener{JS: deps.JS}, interval: cfg.DevOpsLeadersInterval,
			now: now, refresh: m.leadersRefresh, l: l}
	}
	return l, nil
}

// ConsumerConfig is the durable consumer the loader creates or updates.
func (c Config) ConsumerConfig() jetstream.ConsumerConfig {
	return streams.Consumer(streams.ConsumerLoader, streams.ConsumerOptions{
		AckWait:       c.AckWait,
		MaxAckPending: c.MaxAckPending,
		MaxDeliver:    -1,
	}, streams.SubjectEnriched)
}

// fetchWait bounds one pull so stopping is noticed promptly.
const fetchWait = time.Second

// Run creates or updates the durable consumer, then fetches, batches and
// writes until ctx ends or Shutdown is called. It then stops fetching,
// flushes the open batch and settles its messages — within
// Config.ShutdownTimeout after ctx ends, or within the context given to
// Shutdown — and returns nil, or the error of that last flush (its
// messages are Nak'ed and will be redelivered).
func (l *Loader) Run(ctx context.Context) error {
	if !l.started.CompareAndSwap(false, true) {
		return errors.New("loader is already running")
	}
	defer close(l.done)
	l.runErr = l.run(ctx)
	return l.runErr
}

func (l *Loader) run(ctx context.Context) error {
	cons, err := streams.EnsureConsumer(ctx, l.js, streams.Pings, l.cfg.ConsumerConfig())
	if err != nil {
		return err
	}
	var reportsCons jetstream.Consumer
	if l.reports != nil {
		if reportsCons, err = streams.EnsureConsumer(ctx, l.js, streams.Reports, l.cfg.ReportsConsumerConfig()); err != nil {
			return err
		}
	}
	l.log.Info("loader started", "stream", streams.Pings, "consumer", streams.ConsumerLoader, "subject", streams.SubjectEnriched,
		"batch_max_pings", l.cfg.BatchMaxPings, "batch_max_bytes", l.cfg.BatchMaxBytes, "batch_max_age", l.cfg.BatchMaxAge,
		"reports", l.reports != nil)

	// runCtx ends when the loader must stop fetching (ctx done or
	// Shutdown). flushCtx outlives it until the shutdown deadline, so the
	// batch being written and the open batch can still be settled.
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	flushCtx, cancelFlush := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFlush()
	var wg sync.WaitGroup
	defer wg.Wait()
	if l.leaders != nil && l.cfg.DevOpsLeadersInterval > 0 {
		wg.Go(func() { l.leaders.run(runCtx) })
	}
	wg.Go(func() {
		select {
		case <-l.stop:
			cancelRun()
		case <-runCtx.Done():
		}
		fctx, cancel := l.finalContext(ctx)
		defer cancel()
		select {
		case <-fctx.Done():
			cancelFlush()
		case <-flushCtx.Done():
		}
	})
	l.halt = runCtx.Done()

	// The reports consumer runs beside the pings one, with the same
	// lifecycle: it stops fetching with runCtx and settles its open batch
	// within flushCtx.
	var reports sync.WaitGroup
	var reportsErr error
	if l.reports != nil {
		reports.Go(func() { reportsErr = l.reports.run(runCtx, flushCtx, reportsCons) })
	}
	pings := &pingBatcher{l: l}
	l.pull(runCtx, flushCtx, cons, l.pingsSpec(), pings)
	if err = l.flush(flushCtx, &pings.open); err != nil {
		err = fmt.Errorf("flush open batch at shutdown: %w", err)
	}
	reports.Wait()
	cancelFlush()
	if err = errors.Join(err, reportsErr); err != nil {
		return err
	}
	l.log.Info("loader stopped", "consumer", streams.ConsumerLoader)
	return nil
}

// Shutdown stops fetching, flushes the open batch within ctx and waits for
// Run to return. It is idempotent and returns at once if Run never started.
func (l *Loader) Shutdown(ctx context.Context) error {
	l.stopOnce.Do(func() {
		l.shutdownCtx = ctx
		close(l.stop)
	})
	if !l.started.Load() {
		return nil
	}
	select {
	case <-l.done:
		return l.runErr
	case <-ctx.Done():
		return fmt.Errorf("wait for the loader to stop: %w", ctx.Err())
	}
}

// finalContext bounds the work left once the loader stops: the Shutdown
// context if Shutdown was called, else ShutdownTimeout past the end of
// Run's context.
func (l *Loader) finalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	select {
	case <-l.stop:
		return context.WithCancel(l.shutdownCtx)
	default:
		return context.WithTimeout(context.WithoutCancel(ctx), l.cfg.ShutdownTimeout)
	}
}

// sleep waits d unless the loader stops first; it reports whether the
// full delay passed.
func (l *Loader) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.halt:
		return false
	}
}

// openBatch is the batch being filled.
type openBatch struct {
	msgs    []jetstream.Msg
	recs    []rows.Record
	bytes   int64
	started time.Time
}

// add decodes msg into the open batch, or dead-letters it.
func (l *Loader) add(ctx context.Context, open *openBatch, msg jetstream.Msg) {
	var streamTime time.Time
	if md, err := msg.Metadata(); err == nil {
		streamTime = md.Timestamp
	}
	ep := &servicepingv1.EnrichedPing{}
	if err := proto.Unmarshal(msg.Data(), ep); err != nil {
		l.settle.deadLetter(ctx, msg, fmt.Errorf("decode enriched ping: %w", err))
		return
	}
	rec, err := l.builder.Build(ep, streamTime)
	if err != nil {
		l.settle.deadLetter(ctx, msg, err)
		return
	}
	if len(open.msgs) == 0 {
		open.started = time.Now()
	}
	open.msgs = append(open.msgs, msg)
	open.recs = append(open.recs, rec)
	open.bytes += int64(len(ep.GetPayload()))
	l.m.openPings.Set(float64(len(open.msgs)))
	l.m.openBytes.Set(float64(open.bytes))
}

// flush writes the open batch to every sink, then acknowledges its
// messages. A failed write is retried with the same batch (same ID, so
// its files are replaced) up to WriteAttempts times, with growing pauses
// and the messages kept alive; after that, or as soon as the loader is
// stopping, the messages are Nak'ed with a delay. The open batch is
// emptied either way.
func (l *Loader) flush(ctx context.Context, open *openBatch) error {
	if len(open.msgs) == 0 {
		return nil
	}
	msgs, recs := open.msgs, open.recs
	*open = openBatch{}
	l.m.openPings.Set(0)
	l.m.openBytes.Set(0)

	start := time.Now()
	b := rows.NewBatch(recs)
	err := l.writeRetrying(ctx, &l.settle, msgs, func(ctx context.Context) error { return l.write(ctx, b) },
		"batch_id", b.ID, "pings", len(b.Records))
	l.m.batchDuration.Observe(time.Since(start).Seconds())
	if err != nil && consume.IsPermanent(err) {
		// Some row can never be loaded: find which ping by writing them one
		// by one, dead-letter it with the reason, load the others.
		l.m.batches.WithLabelValues("failed").Inc()
		l.log.Warn("batch holds a ping that cannot be loaded; writing its pings one by one", "batch_id", b.ID, "pings", len(b.Records), "err", err)
		l.isolate(ctx, msgs, recs)
		return fmt.Errorf("write batch %s: %w", b.ID, err)
	}
	if err != nil {
		l.failures++
		l.m.batches.WithLabelValues("failed").Inc()
		l.log.Error("batch write failed; its messages will be redelivered", "batch_id", b.ID, "pings", len(b.Records), "err", err)
		l.settle.nakAll(msgs)
		return fmt.Errorf("write batch %s: %w", b.ID, err)
	}
	l.failures = 0
	l.settle.ackAll(ctx, msgs)
	l.m.batches.WithLabelValues("written").Inc()
	l.m.rows.WithLabelValues(tables.Pings).Add(float64(len(b.Records)))
	l.m.rows.WithLabelValues(tables.Metrics).Add(float64(b.NumMetrics()))
	l.log.Debug("batch written", "batch_id", b.ID, "pings", len(b.Records), "messages", len(msgs), "duration", time.Since(start))
	return nil
}

// isolate writes each ping of a batch that failed permanently as a batch
// of its own: a ping whose write fails permanently again is dead-lettered
// with the reason, one that fails transiently is Nak'ed, the others are
// acknowledged. Messages carrying the same ping_id share its fate.
func (l *Loader) isolate(ctx context.Context, msgs []jetstream.Msg, recs []rows.Record) {
	var order []string
	byPing := map[string][]int{}
	for i, r := range recs {
		id := r.Ping.PingID
		if _, ok := byPing[id]; !ok {
			order = append(order, id)
		}
		byPing[id] = append(byPing[id], i)
	}
	for _, id := range order {
		idx := byPing[id]
		b := rows.NewBatch([]rows.Record{recs[idx[len(idx)-1]]})
		wctx, cancel := context.WithTimeout(ctx, l.cfg.WriteTimeout)
		err := l.write(wctx, b)
		cancel()
		group := make([]jetstream.Msg, 0, len(idx))
		for _, i := range idx {
			group = append(group, msgs[i])
		}
		switch {
		case err == nil:
			l.settle.ackAll(ctx, group)
			l.m.batches.WithLabelValues("written").Inc()
			l.m.rows.WithLabelValues(tables.Pings).Add(1)
			l.m.rows.WithLabelValues(tables.Metrics).Add(float64(b.NumMetrics()))
		case consume.IsPermanent(err):
			for _, m := range group {
				l.settle.deadLetter(ctx, m, fmt.Errorf("load ping %s: %w", id, err))
			}
		default:
			l.m.batches.WithLabelValues("failed").Inc()
			l.settle.nakAll(group)
		}
	}
}

// write hands the batch to every sink concurrently; all must succeed.
func (l *Loader) write(ctx context.Context, b rows.Batch) error {
	if len(l.sinks) == 1 {
		return l.sinks[0].Write(ctx, b)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range l.sinks {
		g.Go(func() error { return s.Write(gctx, b) })
	}
	return g.Wait()
}
