// Package loader consumes enriched pings from JetStream and loads them, in
// batches, into every configured sink (the Parquet lake now, ClickHouse
// next). A message is acknowledged only after every sink made its batch
// durable; a failed write Naks the whole batch with a growing delay, and a
// message that can never be loaded is dead-lettered at once without
// holding up the others.
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
	"github.com/serviceping/serviceping/pkg/streams"
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
}

// Loader is the batching consumer. Run it once.
type Loader struct {
	cfg     Config
	js      jetstream.JetStream
	log     *slog.Logger
	m       *metrics
	sinks   []Sink
	builder rows.Builder

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
	return &Loader{
		cfg: cfg, js: deps.JS, log: log, m: m, sinks: deps.Sinks,
		stop: make(chan struct{}), done: make(chan struct{}),
	}, nil
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
	l.log.Info("loader started", "stream", streams.Pings, "consumer", streams.ConsumerLoader, "subject", streams.SubjectEnriched,
		"batch_max_pings", l.cfg.BatchMaxPings, "batch_max_bytes", l.cfg.BatchMaxBytes, "batch_max_age", l.cfg.BatchMaxAge)

	// runCtx ends when the loader must stop fetching (ctx done or
	// Shutdown). flushCtx outlives it until the shutdown deadline, so the
	// batch being written and the open batch can still be settled.
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	flushCtx, cancelFlush := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFlush()
	var wg sync.WaitGroup
	defer wg.Wait()
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

	var open openBatch
	l.consume(runCtx, flushCtx, cons, &open)
	err = l.flush(flushCtx, &open)
	cancelFlush()
	if err != nil {
		return fmt.Errorf("flush open batch at shutdown: %w", err)
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

// consume fetches into the open batch and flushes it when full or old,
// until ctx ends. Flushes use flushCtx.
func (l *Loader) consume(ctx, flushCtx context.Context, cons jetstream.Consumer, open *openBatch) {
	for ctx.Err() == nil {
		wait := min(fetchWait, l.cfg.BatchMaxAge)
		if len(open.msgs) > 0 {
			left := time.Until(open.started.Add(l.cfg.BatchMaxAge))
			if left <= 0 {
				_ = l.flush(flushCtx, open)
				continue
			}
			wait = min(wait, max(left, 10*time.Millisecond))
		}
		mb, err := cons.Fetch(l.cfg.BatchMaxPings-len(open.msgs), jetstream.FetchMaxWait(wait))
		if err != nil {
			l.log.Warn("fetch failed", "consumer", streams.ConsumerLoader, "err", err)
			l.sleep(time.Second)
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
				if c, err := streams.EnsureConsumer(ctx, l.js, streams.Pings, l.cfg.ConsumerConfig()); err == nil {
					cons = c
				}
			}
			continue
		}
		for msg := range mb.Messages() {
			l.add(flushCtx, open, msg)
			if len(open.msgs) >= l.cfg.BatchMaxPings || open.bytes >= l.cfg.BatchMaxBytes {
				_ = l.flush(flushCtx, open)
			}
		}
		if err := mb.Error(); err != nil {
			l.log.Warn("fetch ended with an error", "consumer", streams.ConsumerLoader, "err", err)
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				l.sleep(time.Second)
				if c, err := streams.EnsureConsumer(ctx, l.js, streams.Pings, l.cfg.ConsumerConfig()); err == nil {
					cons = c
				}
			}
		}
		if l.failures > 0 && len(open.msgs) == 0 {
			// A sink is failing: give it room before pulling more.
			l.sleep(consume.NakDelay(uint64(l.failures), l.cfg.NakDelayMax))
		}
	}
}

// add decodes msg into the open batch, or dead-letters it.
func (l *Loader) add(ctx context.Context, open *openBatch, msg jetstream.Msg) {
	var streamTime time.Time
	if md, err := msg.Metadata(); err == nil {
		streamTime = md.Timestamp
	}
	ep := &servicepingv1.EnrichedPing{}
	if err := proto.Unmarshal(msg.Data(), ep); err != nil {
		l.deadLetter(ctx, msg, fmt.Errorf("decode enriched ping: %w", err))
		return
	}
	rec, err := l.builder.Build(ep, streamTime)
	if err != nil {
		l.deadLetter(ctx, msg, err)
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

func (l *Loader) deadLetter(ctx context.Context, msg jetstream.Msg, reason error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	outcome, err := consume.Settle(dctx, l.js, streams.ConsumerLoader, msg, consume.Permanent(reason), l.cfg.NakDelayMax, l.log)
	if err != nil {
		l.log.Error("dead-lettering failed; the message will be redelivered", "consumer", streams.ConsumerLoader, "err", err)
	}
	l.m.messages.WithLabelValues(outcome).Inc()
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
	stopKeepAlive := l.keepAlive(msgs)
	var err error
	for attempt := 1; ; attempt++ {
		wctx, cancel := context.WithTimeout(ctx, l.cfg.WriteTimeout)
		err = l.write(wctx, b)
		cancel()
		if err == nil || attempt >= l.cfg.WriteAttempts || consume.IsPermanent(err) {
			break
		}
		delay := consume.NakDelay(uint64(attempt), l.cfg.NakDelayMax)
		l.log.Warn("batch write failed; retrying", "batch_id", b.ID, "pings", len(b.Records), "attempt", attempt, "retry_in", delay, "err", err)
		if !l.sleep(delay) {
			break
		}
	}
	stopKeepAlive()
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
		l.nakAll(msgs)
		return fmt.Errorf("write batch %s: %w", b.ID, err)
	}
	l.failures = 0
	l.ackAll(ctx, msgs)
	l.m.batches.WithLabelValues("written").Inc()
	l.m.rows.WithLabelValues(rows.TablePings).Add(float64(len(b.Records)))
	l.m.rows.WithLabelValues(rows.TableMetrics).Add(float64(b.NumMetrics()))
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
			l.ackAll(ctx, group)
			l.m.batches.WithLabelValues("written").Inc()
			l.m.rows.WithLabelValues(rows.TablePings).Add(1)
			l.m.rows.WithLabelValues(rows.TableMetrics).Add(float64(b.NumMetrics()))
		case consume.IsPermanent(err):
			for _, m := range group {
				l.deadLetter(ctx, m, fmt.Errorf("load ping %s: %w", id, err))
			}
		default:
			l.m.batches.WithLabelValues("failed").Inc()
			l.nakAll(group)
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

// keepAlive tells the server the batch's messages are still being worked
// on, so a slow write never outlives AckWait.
func (l *Loader) keepAlive(msgs []jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(l.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, m := range msgs {
					_ = m.InProgress()
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// ackAll acknowledges every message and waits for the server to confirm.
// A message whose ack is lost is redelivered and its ping rewritten.
func (l *Loader) ackAll(ctx context.Context, msgs []jetstream.Msg) {
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var failed atomic.Int64
	var g errgroup.Group
	g.SetLimit(32)
	for _, m := range msgs {
		g.Go(func() error {
			if err := m.DoubleAck(actx); err != nil {
				failed.Add(1)
			}
			return nil
		})
	}
	_ = g.Wait()
	n := failed.Load()
	l.m.messages.WithLabelValues("ack").Add(float64(int64(len(msgs)) - n))
	if n > 0 {
		l.m.messages.WithLabelValues("ack_failed").Add(float64(n))
		l.log.Warn("acknowledgements failed; those pings will be redelivered and rewritten", "consumer", streams.ConsumerLoader, "messages", n)
	}
}

func (l *Loader) nakAll(msgs []jetstream.Msg) {
	for _, m := range msgs {
		var n uint64 = 1
		if md, err := m.Metadata(); err == nil {
			n = md.NumDelivered
		}
		if err := m.NakWithDelay(consume.NakDelay(n, l.cfg.NakDelayMax)); err != nil {
			l.log.Warn("nak failed; the message is redelivered after ack wait", "consumer", streams.ConsumerLoader, "err", err)
		}
	}
	l.m.messages.WithLabelValues("nak").Add(float64(len(msgs)))
}
