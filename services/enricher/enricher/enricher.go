// Package enricher turns raw pings into enriched ones: it consumes
// serviceping.pings.raw with the durable consumer "enricher", lifts the
// instance and license fields out of the payload, and publishes an
// EnrichedPing on serviceping.pings.enriched with the ping_id as message id.
// A message that cannot be decoded is dead-lettered with the reason; a
// publish failure is transient and the raw message is redelivered later.
package enricher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/consume"
	"github.com/serviceping/serviceping/pkg/streams"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/enricher/internal/instance"
)

// Config of the enricher.
type Config struct {
	NATSURL string `env:"NATS_URL, default=nats://127.0.0.1:4222"`
	// Workers process messages concurrently.
	Workers int `env:"ENRICHER_WORKERS, default=4"`
	// AckWait is how long a delivered message may stay unacknowledged.
	AckWait time.Duration `env:"ENRICHER_ACK_WAIT, default=60s"`
	// MaxAckPending bounds the messages in flight.
	MaxAckPending int `env:"ENRICHER_MAX_ACK_PENDING, default=256"`
	// NakMaxDelay caps the redelivery delay after a transient failure.
	NakMaxDelay time.Duration `env:"ENRICHER_NAK_MAX_DELAY, default=30s"`
	// PublishTimeout bounds one publish of an enriched ping.
	PublishTimeout time.Duration `env:"ENRICHER_PUBLISH_TIMEOUT, default=10s"`
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("ENRICHER_WORKERS must be at least 1, got %d", c.Workers))
	}
	if c.AckWait < time.Second {
		errs = append(errs, fmt.Errorf("ENRICHER_ACK_WAIT must be at least 1s, got %s", c.AckWait))
	}
	if c.MaxAckPending < c.Workers {
		errs = append(errs, fmt.Errorf("ENRICHER_MAX_ACK_PENDING (%d) must be at least ENRICHER_WORKERS (%d)", c.MaxAckPending, c.Workers))
	}
	if c.PublishTimeout <= 0 || c.PublishTimeout >= c.AckWait {
		errs = append(errs, fmt.Errorf("ENRICHER_PUBLISH_TIMEOUT (%s) must be positive and shorter than ENRICHER_ACK_WAIT (%s)", c.PublishTimeout, c.AckWait))
	}
	if c.NakMaxDelay <= 0 {
		errs = append(errs, errors.New("ENRICHER_NAK_MAX_DELAY must be positive"))
	}
	return errors.Join(errs...)
}

// Deps are what the enricher is given rather than builds.
type Deps struct {
	JS         jetstream.JetStream
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Enricher is the running stage.
type Enricher struct {
	cfg     Config
	js      jetstream.JetStream
	log     *slog.Logger
	metrics metrics
}

type metrics struct {
	messages *prometheus.CounterVec
	duration prometheus.Histogram
}

// New checks the configuration and registers metrics; Run starts consuming.
func New(cfg Config, deps Deps) (*Enricher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("enricher config: %w", err)
	}
	if deps.JS == nil {
		return nil, errors.New("enricher: a JetStream handle is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	m := metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "serviceping", Subsystem: "enricher", Name: "messages_total",
			Help: "Raw pings handled, by outcome (ack, nak, dlq).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "serviceping", Subsystem: "enricher", Name: "message_duration_seconds",
			Help: "Time to enrich and publish one ping.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	for _, c := range []prometheus.Collector{m.messages, m.duration} {
		if err := deps.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register enricher metrics: %w", err)
		}
	}
	return &Enricher{cfg: cfg, js: deps.JS, log: deps.Logger, metrics: m}, nil
}

// Run ensures the durable consumer and processes messages until ctx ends.
// Messages in progress when ctx ends are finished or left un-acked for
// redelivery; none is acknowledged without its enriched ping published.
func (e *Enricher) Run(ctx context.Context) error {
	cfg := streams.Consumer(streams.ConsumerEnricher, streams.ConsumerOptions{
		AckWait: e.cfg.AckWait, MaxAckPending: e.cfg.MaxAckPending,
	}, streams.SubjectRaw)
	cons, err := streams.EnsureConsumer(ctx, e.js, streams.Pings, cfg)
	if err != nil {
		return err
	}
	e.log.Info("enricher consuming", "stream", streams.Pings, "consumer", streams.ConsumerEnricher, "workers", e.cfg.Workers)

	var wg sync.WaitGroup
	errc := make(chan error, e.cfg.Workers)
	for range e.cfg.Workers {
		wg.Go(func() { errc <- e.work(ctx, cons) })
	}
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		if err != nil {
			errs = append(errs, err)
		}
	}
	e.log.Info("enricher stopped")
	return errors.Join(errs...)
}

func (e *Enricher) work(ctx context.Context, cons jetstream.Consumer) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(max(1, e.cfg.MaxAckPending/e.cfg.Workers)))
	if err != nil {
		return fmt.Errorf("open message iterator: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			e.log.Warn("fetching raw pings", "err", err)
			continue
		}
		start := time.Now()
		// Settlement uses a fresh context: a message being processed at
		// shutdown is still settled (or left for redelivery) properly.
		settleCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.PublishTimeout)
		handleErr := e.handle(settleCtx, msg)
		outcome, err := consume.Settle(settleCtx, e.js, streams.ConsumerEnricher, msg, handleErr, e.cfg.NakMaxDelay, e.log)
		cancel()
		e.metrics.messages.WithLabelValues(outcome).Inc()
		e.metrics.duration.Observe(time.Since(start).Seconds())
		if err != nil {
			e.log.Warn("settling raw ping", "outcome", outcome, "err", err)
		} else if outcome == "nak" {
			e.log.Debug("raw ping will be redelivered", "err", handleErr)
		}
	}
}

// handle enriches one raw ping and publishes it. Decoding problems are
// permanent; publishing problems are transient.
func (e *Enricher) handle(ctx context.Context, msg jetstream.Msg) error {
	out, err := Enrich(msg.Data(), time.Now())
	if err != nil {
		return consume.Permanent(err)
	}
	data, err := proto.Marshal(out)
	if err != nil {
		return consume.Permanent(fmt.Errorf("marshal enriched ping %s: %w", out.PingId, err))
	}
	if _, err := e.js.Publish(ctx, streams.SubjectEnriched, data, jetstream.WithMsgID(streams.EnrichedMsgID(out.PingId, out.GetEnrichment().GetReenrichId()))); err != nil {
		return fmt.Errorf("publish enriched ping %s: %w", out.PingId, err)
	}
	return nil
}

// Enrich decodes a RawPing message and builds its EnrichedPing. Lookups of
// subscription and account come later; until then the status is SKIPPED.
func Enrich(data []byte, now time.Time) (*servicepingv1.EnrichedPing, error) {
	var raw servicepingv1.RawPing
	if err := proto.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode raw ping envelope: %w", err)
	}
	if raw.PingId == "" || len(raw.Payload) == 0 {
		return nil, errors.New("raw ping envelope has no ping_id or no payload")
	}
	in, lic, err := instance.Extract(raw.Payload)
	if err != nil {
		return nil, fmt.Errorf("ping %s: %w", raw.PingId, err)
	}
	return &servicepingv1.EnrichedPing{
		PingId:      raw.PingId,
		UsageDataId: raw.UsageDataId,
		ReceivedAt:  raw.ReceivedAt,
		Instance:    in,
		License:     lic,
		Enrichment: &servicepingv1.Enrichment{
			Status:     servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_SKIPPED,
			Reason:     "no directory configured",
			EnrichedAt: timestamppb.New(now),
		},
		Payload: raw.Payload,
		Source:  raw.Source,
	}, nil
}
