package loader

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/serviceping/serviceping/pkg/consume"
	"github.com/serviceping/serviceping/pkg/streams"
)

// batcher is one consumer's open batch, driven by Loader.pull. Its methods
// are called from one goroutine.
type batcher interface {
	// add takes msg into the open batch, or settles it at once (dead letter).
	add(ctx context.Context, msg jetstream.Msg)
	// pending is how many messages the open batch holds and when the first arrived.
	pending() (n int, since time.Time)
	// full reports whether the open batch must be flushed now.
	full() bool
	// flush writes the open batch and settles its messages, emptying it.
	flush(ctx context.Context) error
	// failures is the number of consecutive failed flushes.
	failures() int
}

// pullSpec is the durable consumer a pull loop reads and its batch limits.
type pullSpec struct {
	stream   string
	consumer jetstream.ConsumerConfig
	maxMsgs  int
	maxAge   time.Duration
}

func (l *Loader) pingsSpec() pullSpec {
	return pullSpec{stream: streams.Pings, consumer: l.cfg.ConsumerConfig(), maxMsgs: l.cfg.BatchMaxPings, maxAge: l.cfg.BatchMaxAge}
}

// pull fetches into b's open batch and flushes it when full or old, until
// ctx ends; flushes use flushCtx. A deleted consumer is created again.
func (l *Loader) pull(ctx, flushCtx context.Context, cons jetstream.Consumer, spec pullSpec, b batcher) {
	recreate := func(err error) {
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
			if c, err := streams.EnsureConsumer(ctx, l.js, spec.stream, spec.consumer); err == nil {
				cons = c
			}
		}
	}
	for ctx.Err() == nil {
		wait := min(fetchWait, spec.maxAge)
		n, since := b.pending()
		if n > 0 {
			left := time.Until(since.Add(spec.maxAge))
			if left <= 0 {
				_ = b.flush(flushCtx)
				continue
			}
			wait = min(wait, max(left, 10*time.Millisecond))
		}
		mb, err := cons.Fetch(spec.maxMsgs-n, jetstream.FetchMaxWait(wait))
		if err != nil {
			l.log.Warn("fetch failed", "stream", spec.stream, "consumer", spec.consumer.Durable, "err", err)
			l.sleep(time.Second)
			recreate(err)
			continue
		}
		for msg := range mb.Messages() {
			b.add(flushCtx, msg)
			if b.full() {
				_ = b.flush(flushCtx)
			}
		}
		if err := mb.Error(); err != nil {
			l.log.Warn("fetch ended with an error", "stream", spec.stream, "consumer", spec.consumer.Durable, "err", err)
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				l.sleep(time.Second)
				recreate(err)
			}
		}
		if f := b.failures(); f > 0 {
			if n, _ := b.pending(); n == 0 {
				// A sink is failing: give it room before pulling more.
				l.sleep(consume.NakDelay(uint64(f), l.cfg.NakDelayMax))
			}
		}
	}
}

// pingBatcher is the pings consumer's open batch.
type pingBatcher struct {
	l    *Loader
	open openBatch
}

func (p *pingBatcher) add(ctx context.Context, msg jetstream.Msg) { p.l.add(ctx, &p.open, msg) }
func (p *pingBatcher) pending() (int, time.Time)                  { return len(p.open.msgs), p.open.started }
func (p *pingBatcher) flush(ctx context.Context) error            { return p.l.flush(ctx, &p.open) }
func (p *pingBatcher) failures() int                              { return p.l.failures }
func (p *pingBatcher) full() bool {
	return len(p.open.msgs) >= p.l.cfg.BatchMaxPings || p.open.bytes >= p.l.cfg.BatchMaxBytes
}

// writeRetrying runs write up to WriteAttempts times, each within
// WriteTimeout, with growing pauses and msgs kept alive meanwhile. It
// stops at the first success, at a permanent error, or when the loader
// halts, and returns the last error. logArgs identify the batch in logs.
func (l *Loader) writeRetrying(ctx context.Context, s *settler, msgs []jetstream.Msg, write func(context.Context) error, logArgs ...any) error {
	stopKeepAlive := s.keepAlive(msgs)
	defer stopKeepAlive()
	for attempt := 1; ; attempt++ {
		wctx, cancel := context.WithTimeout(ctx, l.cfg.WriteTimeout)
		err := write(wctx)
		cancel()
		if err == nil || attempt >= l.cfg.WriteAttempts || consume.IsPermanent(err) {
			return err
		}
		delay := consume.NakDelay(uint64(attempt), l.cfg.NakDelayMax)
		l.log.Warn("batch write failed; retrying", append(logArgs, "attempt", attempt, "retry_in", delay, "err", err)...)
		if !l.sleep(delay) {
			return err
		}
	}
}

// settler settles one consumer's messages and counts the outcomes.
type settler struct {
	js          jetstream.JetStream
	log         *slog.Logger
	stream      string
	outcomes    *prometheus.CounterVec // outcome: ack|ack_failed|nak|dlq
	ackWait     time.Duration
	nakDelayMax time.Duration
}

func (s *settler) deadLetter(ctx context.Context, msg jetstream.Msg, reason error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	outcome, err := consume.Settle(dctx, s.js, streams.ConsumerLoader, msg, consume.Permanent(reason), s.nakDelayMax, s.log)
	if err != nil {
		s.log.Error("dead-lettering failed; the message will be redelivered", "stream", s.stream, "consumer", streams.ConsumerLoader, "err", err)
	}
	s.outcomes.WithLabelValues(outcome).Inc()
}

// keepAlive tells the server the batch's messages are still being worked
// on, so a slow write never outlives AckWait.
func (s *settler) keepAlive(msgs []jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(s.ackWait / 3)
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
		s.log.Warn("acknowledgements failed; those messages will be redelivered and written again", "stream", s.stream, "consumer", streams.ConsumerLoader, "messages", n)
	}
}

func (s *settler) nakAll(msgs []jetstream.Msg) {
	for _, m := range msgs {
		if err := consume.Nak(m, s.nakDelayMax); err != nil {
			s.log.Warn("nak failed; the message is redelivered after ack wait", "stream", s.stream, "consumer", streams.ConsumerLoader, "err", err)
		}
	}
	s.outcomes.WithLabelValues("nak").Add(float64(len(msgs)))
}
