package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/serviceping/serviceping/pkg/consume"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/tracing"
)

// batcher is what differs between the loader's streams: how a message
// joins the open batch and what a batch is. Its methods are called from
// the consumer's goroutine only.
type batcher interface {
	// add decodes msg into the open batch and returns the payload bytes
	// it adds; an error means the message can never be loaded (the
	// consumer dead-letters it with the error as the reason).
	add(msg jetstream.Msg) (bytes int64, err error)
	// take empties the open batch and returns it, its items in the order
	// their messages were added.
	take() batch
}

// batch is a closed batch of one stream.
type batch interface {
	// write makes the batch durable; writing it again is a no-op (see
	// Sink and ReportWriter).
	write(ctx context.Context) error
	// countRows adds the batch's rows to the rows-written metric (and a
	// batch of pings their lag since the gateway received them).
	countRows()
	// split divides the batch into parts written on their own when it
	// failed permanently.
	split() []part
	// logArgs identify the batch in logs.
	logArgs() []any
	// String names the batch in errors.
	String() string
}

// part is a piece of a batch that failed permanently: the messages at
// msgs (indexes into the batch's messages) share its fate. One that fails
// permanently again is dead-lettered with the reason "load <what>: <err>".
type part struct {
	batch batch
	msgs  []int
	what  string
}

// streamMetrics are the series of one stream's consumer.
type streamMetrics struct {
	batches  *prometheus.CounterVec // result: written|failed
	messages *prometheus.CounterVec // outcome: ack|ack_failed|nak|dlq
	// duration, openMessages and openBytes are nil when the stream has
	// none.
	duration     prometheus.Histogram
	openMessages prometheus.Gauge
	openBytes    prometheus.Gauge
}

// batchConsumer reads one durable consumer of the loader in batches: it
// fetches what the open batch still has room for, hands each message to
// its batcher, flushes the batch when it holds BatchMaxPings messages or
// BatchMaxBytes payload bytes or is BatchMaxAge old, and settles every
// message through its settler: acknowledged once the batch is durable,
// Nak'ed with a growing delay when the write failed, dead-lettered with
// the reason when it can never be loaded. A failed write is retried with
// the same batch (same ID, so its files are replaced) up to WriteAttempts
// times, with growing pauses and the messages kept alive.
//
// A full batch is handed to the consumer's writer goroutine, so the next
// one is fetched and built while it is written: at most two batches are
// held, one being written and one filling (MaxAckPending of twice
// BatchMaxPings lets both be full). Messages are settled by the writer.
type batchConsumer struct {
	l       *Loader
	stream  string
	config  jetstream.ConsumerConfig
	batcher batcher
	m       streamMetrics
	settle  settler

	cons     jetstream.Consumer
	open     []jetstream.Msg // the open batch's messages
	bytes    int64           // payload bytes of the open batch
	started  time.Time       // when the open batch's first message arrived
	beat     time.Time       // when the open batch was last kept alive
	failures atomic.Int64    // consecutive failed writes
	// writes hands full batches to the writer goroutine (run).
	writes chan closedBatch
}

// closedBatch is a batch taken from the open one, with its messages, kept
// alive until its write starts keeping them alive itself.
type closedBatch struct {
	msgs          []jetstream.Msg
	b             batch
	stopKeepAlive func()
}

// newConsumer is the loader's durable consumer on stream, filtered to
// subjects; every stream's has the same name and settings.
func (l *Loader) newConsumer(stream string, b batcher, m streamMetrics, subjects ...string) *batchConsumer {
	cfg := streams.Consumer(streams.ConsumerLoader, streams.ConsumerOptions{
		AckWait:       l.cfg.AckWait,
		MaxAckPending: l.cfg.MaxAckPending,
		MaxDeliver:    -1,
	}, subjects...)
	return &batchConsumer{
		l: l, stream: stream, config: cfg, batcher: b, m: m,
		settle: settler{js: l.js, log: l.log, stream: stream, consumer: cfg.Durable, outcomes: m.messages,
			ackWait: l.cfg.AckWait, nakDelayMax: l.cfg.NakDelayMax},
	}
}

// ensure creates or updates the durable consumer.
func (c *batchConsumer) ensure(ctx context.Context) error {
	cons, err := streams.EnsureConsumer(ctx, c.l.js, c.stream, c.config)
	if err != nil {
		return err
	}
	c.cons = cons
	return nil
}

// run fetches and flushes until ctx ends, then flushes the open batch
// within flushCtx, which every flush uses.
func (c *batchConsumer) run(ctx, flushCtx context.Context) error {
	c.l.log.Info("loading stream", "stream", c.stream, "consumer", c.config.Durable)
	c.writes = make(chan closedBatch)
	var writer sync.WaitGroup
	writer.Go(func() {
		for cb := range c.writes {
			_ = c.write(flushCtx, cb)
		}
	})
	c.pull(ctx, flushCtx)
	close(c.writes)
	writer.Wait()
	if err := c.flush(flushCtx); err != nil {
		return fmt.Errorf("flush the open %s batch at shutdown: %w", c.stream, err)
	}
	return nil
}

// pull fetches into the open batch and flushes it when full or old, until
// ctx ends. A deleted consumer is created again.
func (c *batchConsumer) pull(ctx, flushCtx context.Context) {
	l := c.l
	maxAge := l.cfg.BatchMaxAge
	recreate := func(err error) {
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
			_ = c.ensure(ctx)
		}
	}
	backoff := fetchBackoff{}
	for ctx.Err() == nil {
		c.keepOpenAlive()
		wait := min(fetchWait, maxAge)
		if n := len(c.open); n > 0 {
			left := time.Until(c.started.Add(maxAge))
			if left <= 0 {
				c.handOff()
				continue
			}
			wait = min(wait, max(left, 10*time.Millisecond))
		}
		mb, err := c.cons.Fetch(l.cfg.BatchMaxPings-len(c.open), jetstream.FetchMaxWait(wait))
		if err != nil {
			d := backoff.next()
			l.log.Warn("fetch failed", "stream", c.stream, "consumer", c.config.Durable, "err", err, "retry_in", d)
			l.sleep(d)
			recreate(err)
			continue
		}
		for msg := range mb.Messages() {
			c.add(flushCtx, msg)
			if len(c.open) >= l.cfg.BatchMaxPings || c.bytes >= l.cfg.BatchMaxBytes {
				c.handOff()
			}
		}
		if err := mb.Error(); err != nil {
			d := backoff.next()
			l.log.Warn("fetch ended with an error", "stream", c.stream, "consumer", c.config.Durable, "err", err, "retry_in", d)
			l.sleep(d)
			recreate(err)
		} else {
			backoff.reset()
		}
		if f := c.failures.Load(); f > 0 && len(c.open) == 0 {
			// A sink is failing: give it room before pulling more.
			l.sleep(consume.NakDelay(uint64(f), l.cfg.NakDelayMax))
		}
	}
}

// maxSpanLinks bounds the pings a batch's span links to (the SDK's own
// limit).
const maxSpanLinks = 128

// keepOpenAlive tells the server, every third of AckWait, that the open
// batch's messages are still held, so they are not redelivered while they
// wait for the batch to fill — only when this loader dies.
func (c *batchConsumer) keepOpenAlive() {
	if len(c.open) == 0 || time.Since(c.beat) < c.l.cfg.AckWait/3 {
		return
	}
	for _, m := range c.open {
		_ = m.InProgress()
	}
	c.beat = time.Now()
}

// fetchBackoff spaces the fetches of a consumer that keep failing (NATS
// down, the consumer's leader being elected): 250 ms, doubling to 5 s.
type fetchBackoff struct{ failures int }

func (b *fetchBackoff) next() time.Duration {
	b.failures++
	return min(250*time.Millisecond<<min(b.failures-1, 5), 5*time.Second)
}

func (b *fetchBackoff) reset() { b.failures = 0 }

// add takes msg into the open batch, or dead-letters it.
func (c *batchConsumer) add(ctx context.Context, msg jetstream.Msg) {
	n, err := c.batcher.add(msg)
	if err != nil {
		c.settle.deadLetter(ctx, msg, err)
		return
	}
	if len(c.open) == 0 {
		c.started = time.Now()
		c.beat = c.started
	}
	c.open = append(c.open, msg)
	c.bytes += n
	c.gauge()
}

// gauge shows the open batch on the stream's gauges, if it has them.
func (c *batchConsumer) gauge() {
	if c.m.openMessages != nil {
		c.m.openMessages.Set(float64(len(c.open)))
	}
	if c.m.openBytes != nil {
		c.m.openBytes.Set(float64(c.bytes))
	}
}

// take empties the open batch and returns it, its messages kept alive;
// false when it was empty.
func (c *batchConsumer) take() (closedBatch, bool) {
	if len(c.open) == 0 {
		return closedBatch{}, false
	}
	msgs := c.open
	c.open, c.bytes = nil, 0
	c.gauge()
	return closedBatch{msgs: msgs, b: c.batcher.take(), stopKeepAlive: c.settle.keepAlive(msgs)}, true
}

// handOff gives the open batch to the writer goroutine, waiting while the
// writer still writes the previous one.
func (c *batchConsumer) handOff() {
	if cb, ok := c.take(); ok {
		c.writes <- cb
	}
}

// flush writes the open batch here and now (the last one, at shutdown).
func (c *batchConsumer) flush(ctx context.Context) error {
	cb, ok := c.take()
	if !ok {
		return nil
	}
	return c.write(ctx, cb)
}

// write writes a closed batch, then acknowledges its messages. A write
// that keeps failing Naks them with a delay; a permanent failure isolates
// the items that cannot be loaded.
func (c *batchConsumer) write(ctx context.Context, cb closedBatch) error {
	defer cb.stopKeepAlive()
	msgs, b := cb.msgs, cb.b

	// One span per batch, linked to the trace of every ping in it.
	links := make([]trace.Link, 0, min(len(msgs), maxSpanLinks))
	for _, m := range msgs[:min(len(msgs), maxSpanLinks)] {
		if sc := trace.SpanContextFromContext(tracing.Extract(ctx, m.Headers())); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, span := c.l.tracer.Start(ctx, "load "+c.stream+" batch", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("messaging.batch.message_count", len(msgs))))
	defer span.End()
	start := time.Now()
	err := c.writeRetrying(ctx, msgs, b)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	if c.m.duration != nil {
		c.m.duration.Observe(time.Since(start).Seconds())
	}
	args := append([]any{"stream", c.stream}, b.logArgs()...)
	switch {
	case err == nil:
		c.failures.Store(0)
		c.settle.ackAll(ctx, msgs)
		c.written(b)
		c.l.log.Debug("batch written", append(args, "messages", len(msgs), "duration", time.Since(start))...)
		return nil
	case consume.IsPermanent(err):
		// Some item can never be loaded: find which by writing the parts
		// one by one, dead-letter it with the reason, load the others.
		c.m.batches.WithLabelValues("failed").Inc()
		c.l.log.Warn("batch holds an item that cannot be loaded; writing its items one by one", append(args, "err", err)...)
		c.isolate(ctx, msgs, b)
	default:
		c.failures.Add(1)
		c.m.batches.WithLabelValues("failed").Inc()
		c.l.log.Error("batch write failed; its messages will be redelivered", append(args, "err", err)...)
		c.settle.nakAll(msgs)
	}
	return fmt.Errorf("write %s: %w", b, err)
}

// written counts a written batch.
func (c *batchConsumer) written(b batch) {
	c.m.batches.WithLabelValues("written").Inc()
	b.countRows()
}

// writeRetrying writes b up to WriteAttempts times, each within
// WriteTimeout, with growing pauses and msgs kept alive meanwhile. It
// stops at the first success, at a permanent error, or when the loader
// halts, and returns the last error.
func (c *batchConsumer) writeRetrying(ctx context.Context, msgs []jetstream.Msg, b batch) error {
	l := c.l
	stopKeepAlive := c.settle.keepAlive(msgs)
	defer stopKeepAlive()
	for attempt := 1; ; attempt++ {
		wctx, cancel := context.WithTimeout(ctx, l.cfg.WriteTimeout)
		err := b.write(wctx)
		cancel()
		if err == nil || attempt >= l.cfg.WriteAttempts || consume.IsPermanent(err) {
			return err
		}
		delay := consume.NakDelay(uint64(attempt), l.cfg.NakDelayMax)
		l.log.Warn("batch write failed; retrying", append(b.logArgs(), "stream", c.stream, "attempt", attempt, "retry_in", delay, "err", err)...)
		if !l.sleep(delay) {
			return err
		}
	}
}

// isolate writes each part of a batch that failed permanently on its own:
// a part whose write fails permanently again has its messages
// dead-lettered with the reason, one that fails transiently has them
// Nak'ed, the others are acknowledged.
func (c *batchConsumer) isolate(ctx context.Context, msgs []jetstream.Msg, b batch) {
	for _, p := range b.split() {
		wctx, cancel := context.WithTimeout(ctx, c.l.cfg.WriteTimeout)
		err := p.batch.write(wctx)
		cancel()
		group := make([]jetstream.Msg, 0, len(p.msgs))
		for _, i := range p.msgs {
			group = append(group, msgs[i])
		}
		switch {
		case err == nil:
			c.settle.ackAll(ctx, group)
			c.written(p.batch)
		case consume.IsPermanent(err):
			for _, m := range group {
				c.settle.deadLetter(ctx, m, fmt.Errorf("load %s: %w", p.what, err))
			}
		default:
			c.m.batches.WithLabelValues("failed").Inc()
			c.settle.nakAll(group)
		}
	}
}

// settler settles one consumer's messages by the rule of package consume
// and counts the outcomes.
type settler struct {
	js          jetstream.JetStream
	log         *slog.Logger
	stream      string
	consumer    string
	outcomes    *prometheus.CounterVec // outcome: ack|ack_failed|nak|dlq
	ackWait     time.Duration
	nakDelayMax time.Duration
}

// deadLetter settles msg as one that can never be loaded (consume.Settle
// with a permanent error).
func (s *settler) deadLetter(ctx context.Context, msg jetstream.Msg, reason error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	outcome, err := consume.Settle(dctx, s.js, s.consumer, msg, consume.Permanent(reason), s.nakDelayMax, s.log)
	if err != nil {
		s.log.Error("dead-lettering failed; the message will be redelivered", "stream", s.stream, "consumer", s.consumer, "err", err)
	}
	s.outcomes.WithLabelValues(outcome).Inc()
}

// keepAlive tells the server the batch's messages are still being worked
// on, so a slow write never outlives AckWait.
func (s *settler) keepAlive(msgs []jetstream.Msg) (stop func()) {
	return consume.KeepAlive(s.ackWait/3, msgs...)
}

// ackAll acknowledges every message and waits for the server to confirm.
// A message whose ack is lost is redelivered and written again.
func (s *settler) ackAll(ctx context.Context, msgs []jetstream.Msg) {
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
	s.outcomes.WithLabelValues("ack").Add(float64(int64(len(msgs)) - n))
	if n > 0 {
		s.outcomes.WithLabelValues("ack_failed").Add(float64(n))
		s.log.Warn("acknowledgements failed; those messages will be redelivered and written again", "stream", s.stream, "consumer", s.consumer, "messages", n)
	}
}

// nakAll Naks every message of a batch whose write failed (consume.Nak).
func (s *settler) nakAll(msgs []jetstream.Msg) {
	for _, m := range msgs {
		if err := consume.Nak(m, s.nakDelayMax); err != nil {
			s.log.Warn("nak failed; the message is redelivered after ack wait", "stream", s.stream, "consumer", s.consumer, "err", err)
		}
	}
	s.outcomes.WithLabelValues("nak").Add(float64(len(msgs)))
}
