// Package loader consumes enriched pings from JetStream and loads them, in
// batches, into every configured sink (the Parquet lake and ClickHouse).
// With a warehouse it also consumes the REPORTS stream (error reports and
// metric timings) into ClickHouse's ping_errors and ping_metric_timings.
// Both streams are read by the same batch consumer (consumer.go), each with
// its own batcher (pings.go, reports.go), and settled the same way: a
// message is acknowledged only after its batch is durable; a failed write
// Naks the whole batch with a growing delay, and a message that can never
// be loaded is dead-lettered at once without holding up the others.
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
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/serviceping/serviceping/pkg/backlog"
	"github.com/serviceping/serviceping/pkg/devopsscore"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/tracing"
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
	// Lake, when set, makes Run compact the lake's past days every
	// Config.LakeCompactInterval.
	Lake Compactor
	// Tracer traces each batch, linked to its pings' traces (pkg/tracing);
	// nil: no tracing.
	Tracer trace.TracerProvider
	// Now defaults to time.Now.
	Now func() time.Time
}

// Loader is the batching consumer of the PINGS stream (and, with a
// warehouse, of REPORTS). Run it once.
type Loader struct {
	cfg   Config
	js    jetstream.JetStream
	log   *slog.Logger
	m     *metrics
	sinks []Sink
	// consumers are the PINGS consumer and, with Deps.Reports, the
	// REPORTS one.
	consumers []*batchConsumer
	leaders   *leaders   // nil without Deps.Population
	compactor *compactor // nil without Deps.Lake or LakeCompactInterval
	tracer    trace.Tracer

	started  atomic.Bool
	stopOnce sync.Once
	stop     chan struct{} // closed by Close
	done     chan struct{} // closed when Run returns
	runErr   error
	halt     <-chan struct{} // closed when Run must stop fetching
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
		cfg: cfg, js: deps.JS, log: log, m: m, sinks: deps.Sinks, tracer: tracing.OrNoop(deps.Tracer).Tracer("serviceping/loader"),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	l.consumers = append(l.consumers, l.newConsumer(streams.Pings, &pingBatcher{l: l}, m.pings(), streams.SubjectEnriched))
	if deps.Reports != nil {
		l.consumers = append(l.consumers, l.newConsumer(streams.Reports, &reportBatcher{w: deps.Reports, rows: m.rows}, m.reports(),
			streams.SubjectErrors, streams.SubjectMetadata))
	}
	var watched []backlog.Consumer
	for _, c := range l.consumers {
		watched = append(watched, backlog.Consumer{Stream: c.stream, Name: c.config.Durable})
	}
	if deps.JS != nil {
		if err := reg.Register(backlog.New(deps.JS, watched...)); err != nil {
			return nil, fmt.Errorf("register loader backlog metrics: %w", err)
		}
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	if deps.Population != nil {
		l.leaders = &leaders{pop: deps.Population, bucket: devopsscore.Opener{JS: deps.JS, Replicas: cfg.Streams.Replicas}, interval: cfg.DevOpsLeadersInterval,
			now: now, refresh: m.leadersRefresh, log: log}
	}
	if deps.Lake != nil && cfg.LakeCompactInterval > 0 {
		l.compactor = &compactor{lake: deps.Lake, interval: cfg.LakeCompactInterval, now: now, days: m.compactedDays, log: log}
	}
	return l, nil
}

// fetchWait bounds one pull so stopping is noticed promptly.
const fetchWait = time.Second

// Run creates or updates the durable consumers, then fetches, batches and
// writes until ctx ends or Close is called. It then stops fetching,
// flushes the open batches and settles their messages — within
// Config.ShutdownTimeout — and returns nil, or the error of a last flush
// (its messages are Nak'ed and will be redelivered).
func (l *Loader) Run(ctx context.Context) error {
	if !l.started.CompareAndSwap(false, true) {
		return errors.New("loader is already running")
	}
	defer close(l.done)
	l.runErr = l.run(ctx)
	return l.runErr
}

func (l *Loader) run(ctx context.Context) error {
	for _, c := range l.consumers {
		if err := c.ensure(ctx); err != nil {
			return err
		}
	}
	l.log.Info("loader started", "consumer", streams.ConsumerLoader, "subject", streams.SubjectEnriched,
		"batch_max_pings", l.cfg.BatchMaxPings, "batch_max_bytes", l.cfg.BatchMaxBytes, "batch_max_age", l.cfg.BatchMaxAge,
		"reports", len(l.consumers) > 1)

	// runCtx ends when the loader must stop fetching (ctx done or Close).
	// flushCtx outlives it until the shutdown deadline, so the batches
	// being written and the open ones can still be settled.
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	flushCtx, cancelFlush := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFlush()
	l.halt = runCtx.Done()
	var wg sync.WaitGroup
	defer wg.Wait()
	if l.leaders != nil && l.cfg.DevOpsLeadersInterval > 0 {
		wg.Go(func() { l.leaders.run(runCtx) })
	}
	if l.compactor != nil {
		wg.Go(func() { l.compactor.run(runCtx) })
	}
	wg.Go(func() {
		select {
		case <-l.stop:
			cancelRun()
		case <-runCtx.Done():
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.ShutdownTimeout)
		defer cancel()
		select {
		case <-fctx.Done():
			cancelFlush()
		case <-flushCtx.Done():
		}
	})

	// Every consumer stops fetching with runCtx and settles its open
	// batch within flushCtx.
	errs := make([]error, len(l.consumers))
	var consumers sync.WaitGroup
	for i, c := range l.consumers {
		consumers.Go(func() { errs[i] = c.run(runCtx, flushCtx) })
	}
	consumers.Wait()
	cancelFlush()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	l.log.Info("loader stopped", "consumer", streams.ConsumerLoader)
	return nil
}

// Close stops fetching, flushes the open batches within
// Config.ShutdownTimeout and waits for Run to return; it returns what Run
// returned. It is idempotent and returns nil at once if Run never started.
func (l *Loader) Close() error {
	l.stopOnce.Do(func() { close(l.stop) })
	if !l.started.Load() {
		return nil
	}
	<-l.done
	return l.runErr
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
