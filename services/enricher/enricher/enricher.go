// Package enricher turns raw pings into enriched ones: it consumes
// serviceping.pings.raw with the durable consumer "enricher", lifts the
// instance and license fields out of the payload, joins the ping to the
// business records (license → subscription → account, see
// docs/architecture.md, "The services"), records the license's last ping
// time, and publishes an EnrichedPing on
// serviceping.pings.enriched with Nats-Msg-Id streams.EnrichedMsgID. For
// each matched ping it queues the account's usage on serviceping.crm.usage
// (streams.CRMUsageMsgID); a second durable consumer, "crm", delivers the
// queue to the CRM.
//
// Never block, never drop: a lookup that keeps failing is retried within
// ENRICHER_LOOKUP_BUDGET, then the ping goes on with status failed (and is
// re-enriched later, see streams.Republish). A message that cannot be decoded is
// dead-lettered with the reason; a publish failure is transient and the raw
// message is redelivered later.
package enricher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/backlog"
	"github.com/serviceping/serviceping/pkg/consume"
	"github.com/serviceping/serviceping/pkg/devopsscore"
	"github.com/serviceping/serviceping/pkg/metric"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/tracing"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/enricher/internal/cache"
	"github.com/serviceping/serviceping/services/enricher/internal/directory"
	"github.com/serviceping/serviceping/services/enricher/internal/guard"
	"github.com/serviceping/serviceping/services/enricher/internal/instance"
	"github.com/serviceping/serviceping/services/enricher/internal/resolve"
)

// Deps are what the enricher is given rather than builds.
type Deps struct {
	JS         jetstream.JetStream
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Tracer continues the gateway's trace of each ping and carries it to
	// the loader (pkg/tracing); nil: no tracing.
	Tracer trace.TracerProvider
}

// usageSink delivers one usage summary to the CRM, idempotently per ping_id.
type usageSink interface {
	PushUsage(ctx context.Context, u directory.Usage) error
}

// Enricher is the running stage.
type Enricher struct {
	cfg     Config
	js      jetstream.JetStream
	log     *slog.Logger
	metrics metrics
	tracer  trace.Tracer

	// resolver is nil when no directory is configured (status skipped).
	resolver *resolve.Resolver
	// sink and crmGuard deliver usage; nil when there is no CRM.
	sink     usageSink
	crmGuard *guard.Guard
	// checks are probed once at start (reachability is logged, not required).
	checks map[string]func(context.Context) error
	// devops remembers each ping for the DevOps Score of the instance's
	// next one (docs/devops-score.md).
	devops devopsscore.Opener

	closeOnce sync.Once
	closers   []func()
}

type metrics struct {
	messages    *prometheus.CounterVec
	duration    prometheus.Histogram
	enrichments *prometheus.CounterVec
	crm         *prometheus.CounterVec
	breaker     *prometheus.GaugeVec
}

// New checks the configuration, prepares the sources and the cache (it
// connects lazily: a dependency down at start only fails lookups) and
// registers metrics; Run starts consuming.
func New(cfg Config, deps Deps) (*Enricher, error) {
	cfg = cfg.withDefaults()
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
	var series metric.Set
	m := metrics{
		messages: series.CounterVec("serviceping_enricher_messages_total",
			"Raw pings handled, by outcome (ack, nak, dlq).", "outcome"),
		duration: series.Histogram("serviceping_enricher_message_duration_seconds",
			"Time to enrich and publish one ping.", prometheus.ExponentialBuckets(0.0005, 2, 14)),
		enrichments: series.CounterVec("serviceping_enricher_enrichments_total",
			"Enriched pings published, by enrichment_status (matched, partial, unmatched, failed, skipped); failed ones await re-enrichment.", "status"),
		crm: series.CounterVec("serviceping_enricher_crm_usage_total",
			"Account usage pushes: queued on the CRM stream, then delivered (ack), retried later (nak) or dead-lettered (dlq).", "outcome"),
		breaker: series.GaugeVec("serviceping_enricher_breaker_open",
			"1 while a dependency's circuit breaker is open or half-open.", "dependency"),
	}
	if err := series.Register(deps.Registerer); err != nil {
		return nil, fmt.Errorf("register enricher metrics: %w", err)
	}
	e := &Enricher{cfg: cfg, js: deps.JS, tracer: tracing.OrNoop(deps.Tracer).Tracer("serviceping/enricher"), log: deps.Logger, metrics: m, checks: map[string]func(context.Context) error{}, devops: devopsscore.Opener{JS: deps.JS, Replicas: cfg.Streams.Replicas}}
	if err := e.wire(deps.Registerer); err != nil {
		e.Close()
		return nil, err
	}
	watched := []backlog.Consumer{{Stream: streams.Pings, Name: streams.ConsumerEnricher}}
	if e.sink != nil {
		watched = append(watched, backlog.Consumer{Stream: streams.CRM, Name: streams.ConsumerCRM})
	}
	if deps.JS != nil {
		if err := deps.Registerer.Register(backlog.New(deps.JS, watched...)); err != nil {
			e.Close()
			return nil, fmt.Errorf("register enricher backlog metrics: %w", err)
		}
	}
	return e, nil
}

// wire builds sources, guards, cache and resolver from the configuration.
func (e *Enricher) wire(reg prometheus.Registerer) error {
	cfg := e.cfg
	newGuard := func(name string, timeout time.Duration) *guard.Guard {
		e.metrics.breaker.WithLabelValues(name).Set(0)
		return guard.New(guard.Settings{
			Name: name, Timeout: timeout, Failures: uint32(cfg.BreakerFailures), OpenFor: cfg.BreakerOpenFor,
			Transient: directory.Transient,
			OnStateChange: func(name, state string) {
				open := 0.0
				if state != "closed" {
					open = 1
				}
				e.metrics.breaker.WithLabelValues(name).Set(open)
				e.log.Warn("circuit breaker changed state", "dependency", name, "state", state)
			},
		})
	}
	var (
		licenses      resolve.Licenses
		licensesGuard *guard.Guard
		accounts      resolve.Accounts
		accountsGuard *guard.Guard
	)
	switch cfg.directoryKind() {
	case "postgres":
		pg, err := directory.OpenPostgres(cfg.DirectoryURL, cfg.LookupTimeout, 0)
		if err != nil {
			return err
		}
		e.closers = append(e.closers, pg.Close)
		e.checks["directory"] = pg.Ping
		licenses, licensesGuard = pg, newGuard("directory", cfg.LookupTimeout)
		if cfg.CRMURL == "" {
			// The directory database plays the CRM too: one dependency.
			accounts, accountsGuard = pg, licensesGuard
			e.sink, e.crmGuard = pg, licensesGuard
		}
	case "http":
		api, err := directory.NewLicensesAPI(cfg.DirectoryURL, cfg.DirectoryToken)
		if err != nil {
			return err
		}
		e.closers = append(e.closers, api.Close)
		licenses, licensesGuard = api, newGuard("licenses", cfg.LookupTimeout)
	}
	if cfg.CRMURL != "" {
		crm, err := directory.NewCRMAPI(cfg.CRMURL, cfg.CRMToken)
		if err != nil {
			return err
		}
		e.closers = append(e.closers, crm.Close)
		g := newGuard("crm", cfg.LookupTimeout)
		e.sink, e.crmGuard = crm, g
		if licenses != nil {
			accounts, accountsGuard = crm, g
		}
	}
	if licenses == nil {
		return nil
	}
	var (
		c          resolve.Cache
		cacheGuard *guard.Guard
	)
	if cfg.RedisURL != "" {
		r, err := cache.NewRedis(cfg.RedisURL, cfg.CachePrefix, cfg.CacheTimeout)
		if err != nil {
			return err
		}
		e.closers = append(e.closers, func() { _ = r.Close() })
		e.checks["redis"] = r.Ping
		// A cache that keeps failing is bypassed quickly and probed again
		// soon: it is an optimisation, the source answers meanwhile.
		c, cacheGuard = r, newGuard("redis", cfg.CacheTimeout)
	} else {
		l, err := cache.NewLRU(cfg.CacheSize, nil)
		if err != nil {
			return err
		}
		c = l
	}
	r, err := resolve.New(resolve.Config{
		Licenses: licenses, LicensesGuard: licensesGuard,
		Accounts: accounts, AccountsGuard: accountsGuard,
		Cache: c, CacheGuard: cacheGuard,
		TTL: cfg.CacheTTL, NegativeTTL: cfg.CacheNegativeTTL,
		Backoff:   guard.Backoff{Initial: cfg.RetryInitial, Max: cfg.RetryMax},
		TouchMemo: cfg.CacheSize,
	}, reg)
	if err != nil {
		return err
	}
	e.resolver = r
	return nil
}

// Checks are the readiness checks of the enricher's dependencies:
// "directory" (a PostgreSQL directory) and "redis" when configured.
func (e *Enricher) Checks() map[string]func(context.Context) error {
	return maps.Clone(e.checks)
}

// Close releases the connections to the directory, the CRM and Redis. It
// is idempotent; Run calls it when it returns.
func (e *Enricher) Close() {
	e.closeOnce.Do(func() {
		for _, c := range e.closers {
			c()
		}
	})
}

// Run ensures the durable consumers and processes messages until ctx ends.
// Messages in progress when ctx ends are finished or left un-acked for
// redelivery; none is acknowledged without its enriched ping published.
func (e *Enricher) Run(ctx context.Context) error {
	defer e.Close()
	e.log.Info("enricher starting", "config", e.cfg)
	for name, check := range e.checks {
		cctx, cancel := context.WithTimeout(ctx, e.cfg.LookupTimeout)
		if err := check(cctx); err != nil {
			e.log.Warn("dependency not reachable at start; lookups will retry", "dependency", name, "err", err)
		}
		cancel()
	}
	cfg := streams.Consumer(streams.ConsumerEnricher, streams.ConsumerOptions{
		AckWait: e.cfg.AckWait, MaxAckPending: e.cfg.MaxAckPending,
	}, streams.SubjectRaw)
	cons, err := streams.EnsureConsumer(ctx, e.js, streams.Pings, cfg)
	if err != nil {
		return err
	}
	var crmCons jetstream.Consumer
	if e.sink != nil {
		crmCfg := streams.Consumer(streams.ConsumerCRM, streams.ConsumerOptions{
			AckWait: e.cfg.AckWait, MaxAckPending: e.cfg.MaxAckPending,
		}, streams.SubjectCRMUsage)
		if crmCons, err = streams.EnsureConsumer(ctx, e.js, streams.CRM, crmCfg); err != nil {
			return err
		}
	}
	e.log.Info("enricher consuming", "stream", streams.Pings, "consumer", streams.ConsumerEnricher, "workers", e.cfg.Workers,
		"directory", e.cfg.directoryKind() != "", "crm", e.sink != nil)

	var wg sync.WaitGroup
	for range e.cfg.Workers {
		wg.Go(func() { e.consume(ctx, cons, streams.ConsumerEnricher, e.handle, e.metrics.messages) })
	}
	if crmCons != nil {
		crmOutcomes := e.metrics.crm
		for range e.cfg.CRMWorkers {
			wg.Go(func() { e.consume(ctx, crmCons, streams.ConsumerCRM, e.deliver, crmOutcomes) })
		}
	}
	wg.Wait()
	e.log.Info("enricher stopped")
	return nil
}

// pullExpiry bounds each pull request of a worker. A request the server
// lost — sent while the consumer's leader was being elected, on a cluster
// node that went away — leaves the worker idle until it expires: 5s instead
// of the client's 30s keeps every replica of the enricher busy after a
// start or a failover.
const pullExpiry = 5 * time.Second

// consume runs one worker of a durable consumer until ctx ends. The worker
// pulls one message when it is free — none waits in a client-side buffer,
// where its ack wait would run out unseen — and while it handles and
// settles it (ack, nak with delay, or dead-letter) tells the server every
// third of AckWait that the message is in progress. So a live enricher
// keeps a message as long as its lookups and publishes take, and the
// messages of one that died come back one AckWait later.
func (e *Enricher) consume(ctx context.Context, cons jetstream.Consumer, name string,
	handle func(context.Context, jetstream.Msg) error, outcomes *prometheus.CounterVec) {
	failures := 0
	for ctx.Err() == nil {
		msg, err := e.next(ctx, cons)
		switch {
		case ctx.Err() != nil:
			if msg != nil {
				_ = msg.Nak() // not started: back to another replica at once
			}
		case err != nil:
			// NATS down or the consumer's leader moving: back off, 250 ms
			// doubling to 5 s, instead of spinning.
			failures++
			d := min(250*time.Millisecond<<min(failures-1, 5), 5*time.Second)
			e.log.Warn("fetching messages", "consumer", name, "err", err, "retry_in", d)
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		case msg != nil:
			failures = 0
			e.process(ctx, msg, name, handle, outcomes)
		default:
			failures = 0 // the pull request expired: none waiting
		}
	}
}

// errDisconnected is next's answer while the connection to NATS is down.
var errDisconnected = errors.New("not connected to NATS")

// next pulls one message, waiting up to pullExpiry; nil and no error when
// none came.
func (e *Enricher) next(ctx context.Context, cons jetstream.Consumer) (jetstream.Msg, error) {
	if !e.js.Conn().IsConnected() {
		// A pull request sent now would wait in the reconnect buffer and be
		// answered, after the reconnection, to a worker that gave up on it.
		return nil, errDisconnected
	}
	fctx, cancel := context.WithTimeout(ctx, pullExpiry)
	defer cancel()
	batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
	if err != nil {
		return nil, fmt.Errorf("pull from %s: %w", cons.CachedInfo().Name, err)
	}
	if msg := <-batch.Messages(); msg != nil {
		return msg, nil
	}
	if err := batch.Error(); err != nil && !(errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil) {
		return nil, fmt.Errorf("pull from %s: %w", cons.CachedInfo().Name, err)
	}
	return nil, nil
}

// process handles one message and settles it, keeping it alive meanwhile.
func (e *Enricher) process(ctx context.Context, msg jetstream.Msg, name string,
	handle func(context.Context, jetstream.Msg) error, outcomes *prometheus.CounterVec) {
	stop := consume.KeepAlive(e.cfg.AckWait/3, msg)
	defer stop()
	start := time.Now()
	handleErr := handle(ctx, msg)
	// Settlement uses a fresh context: a message being processed at
	// shutdown is still settled (or left for redelivery) properly.
	settleCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.PublishTimeout)
	outcome, err := consume.Settle(settleCtx, e.js, name, msg, handleErr, e.cfg.NakMaxDelay, e.log)
	cancel()
	outcomes.WithLabelValues(outcome).Inc()
	if name == streams.ConsumerEnricher {
		e.metrics.duration.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		e.log.Warn("settling message", "consumer", name, "outcome", outcome, "err", err)
	} else if outcome == "nak" {
		e.log.Debug("message will be redelivered", "consumer", name, "err", handleErr)
	}
}

// handle enriches one raw ping and publishes it (and, when matched, the
// account usage). Decoding problems are permanent; publishing problems and
// a shutdown in the middle of lookups are transient.
func (e *Enricher) handle(ctx context.Context, msg jetstream.Msg) (err error) {
	ctx, span := e.tracer.Start(tracing.Extract(ctx, msg.Headers()), "enrich", trace.WithSpanKind(trace.SpanKindConsumer))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	var raw servicepingv1.RawPing
	if err := proto.Unmarshal(msg.Data(), &raw); err != nil {
		return consume.Permanent(fmt.Errorf("decode raw ping envelope: %w", err))
	}
	span.SetAttributes(attribute.String("serviceping.ping_id", raw.GetPingId()))
	out, usage, err := e.enrich(ctx, &raw)
	if err != nil {
		return err
	}
	if err := e.remember(ctx, &raw); err != nil {
		return err
	}
	data, err := proto.Marshal(out)
	if err != nil {
		return consume.Permanent(fmt.Errorf("marshal enriched ping %s: %w", out.PingId, err))
	}
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.PublishTimeout)
	defer cancel()
	enriched := &nats.Msg{Subject: streams.SubjectEnriched, Data: data, Header: nats.Header{}}
	tracing.Inject(ctx, enriched.Header)
	if _, err := e.js.PublishMsg(pubCtx, enriched, jetstream.WithMsgID(streams.EnrichedMsgID(out.PingId, raw.ReenrichId))); err != nil {
		return fmt.Errorf("publish enriched ping %s: %w", out.PingId, err)
	}
	if usage != nil {
		b, err := json.Marshal(usage)
		if err != nil {
			return consume.Permanent(fmt.Errorf("marshal usage of ping %s: %w", out.PingId, err))
		}
		// The enriched ping is out; a failure here redelivers the raw ping,
		// whose enriched copy the duplicate window then drops.
		if _, err := e.js.Publish(pubCtx, streams.SubjectCRMUsage, b, jetstream.WithMsgID(streams.CRMUsageMsgID(out.PingId, raw.ReenrichId))); err != nil {
			return fmt.Errorf("queue CRM usage of ping %s: %w", out.PingId, err)
		}
		e.metrics.crm.WithLabelValues("queued").Inc()
	}
	st := out.Enrichment.Status
	e.metrics.enrichments.WithLabelValues(streams.StatusName(st)).Inc()
	if st == servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_FAILED {
		e.log.Warn("enrichment failed; ping listed for re-enrichment", "ping_id", out.PingId, "reason", out.Enrichment.Reason)
	}
	return nil
}

// remember records the ping in its instance's DevOps Score state, as the
// gateway described it in the envelope, before the enriched ping goes out:
// a redelivery remembers it again, which changes nothing.
func (e *Enricher) remember(ctx context.Context, raw *servicepingv1.RawPing) error {
	if raw.GetDevops() == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.PublishTimeout)
	defer cancel()
	store, err := e.devops.Store(ctx)
	if err != nil {
		return err
	}
	snap, answer := devopsscore.EntryFromProto(raw.GetDevops())
	if err := store.Remember(ctx, raw.GetUuid(), snap, answer); err != nil {
		return fmt.Errorf("remember ping %s for the devops score: %w", raw.GetPingId(), err)
	}
	return nil
}

// enrich builds the EnrichedPing of a raw ping and, for a matched ping with
// a CRM, the usage to push.
func (e *Enricher) enrich(ctx context.Context, raw *servicepingv1.RawPing) (*servicepingv1.EnrichedPing, *directory.Usage, error) {
	now := time.Now()
	out, f, err := build(raw, now)
	if err != nil {
		return nil, nil, consume.Permanent(err)
	}
	if e.resolver == nil {
		return out, nil, nil
	}
	deadline := now.Add(e.cfg.LookupBudget)
	res := e.resolver.Resolve(ctx, out.License, deadline)
	if res.Known {
		if err := e.resolver.Touch(ctx, res.Key, f.Instance.GetRecordedAt().AsTime(), raw.PingId, deadline); err != nil {
			res.Status, res.Reason = servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_FAILED, "record license ping time: "+err.Error()
		}
	}
	if ctx.Err() != nil {
		// Shutting down: lookups were cut short, the ping has not failed.
		return nil, nil, fmt.Errorf("enrich ping %s: %w", raw.PingId, ctx.Err())
	}
	out.Enrichment = &servicepingv1.Enrichment{
		Status:         res.Status,
		SubscriptionId: res.SubscriptionID,
		AccountId:      res.AccountID,
		Reason:         res.Reason,
		EnrichedAt:     timestamppb.New(time.Now()),
		ReenrichId:     raw.ReenrichId,
	}
	if res.Status != servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_MATCHED || e.sink == nil {
		return out, nil, nil
	}
	in, lic := out.Instance, out.License
	u := &directory.Usage{
		PingID: out.PingId, AccountID: res.AccountID, SubscriptionID: res.SubscriptionID,
		UUID: in.Uuid, Hostname: in.Hostname, Version: in.Version, Edition: in.Edition,
		RecordedAt: in.GetRecordedAt().AsTime(), LicenseSeats: lic.UserCount, Plan: lic.Plan,
		Counts: instance.Headline(f.Counts),
	}
	if u.LicenseSeats <= 0 {
		u.LicenseSeats = max(0, res.Seats)
	}
	if u.Plan == "" {
		u.Plan = res.Plan
	}
	if in.HasActiveUserCount && in.ActiveUserCount >= 0 {
		n := in.ActiveUserCount
		u.ActiveUsers = &n
	}
	return out, u, nil
}

// deliver pushes one queued usage summary to the CRM. An undecodable
// message is permanent (dead-lettered); a CRM that fails or whose breaker
// is open is transient: the message stays queued and comes back later.
func (e *Enricher) deliver(ctx context.Context, msg jetstream.Msg) error {
	var u directory.Usage
	if err := json.Unmarshal(msg.Data(), &u); err != nil {
		return consume.Permanent(fmt.Errorf("decode CRM usage: %w", err))
	}
	if err := u.Validate(); err != nil {
		return consume.Permanent(err)
	}
	return e.crmGuard.Do(context.WithoutCancel(ctx), func(ctx context.Context) error {
		return e.sink.PushUsage(ctx, u)
	})
}

// build lifts the instance and license fields of a raw ping; the
// enrichment says skipped until lookups fill it in.
func build(raw *servicepingv1.RawPing, now time.Time) (*servicepingv1.EnrichedPing, instance.Fields, error) {
	if raw.PingId == "" || len(raw.Payload) == 0 {
		return nil, instance.Fields{}, errors.New("raw ping envelope has no ping_id or no payload")
	}
	f, err := instance.Parse(raw.Payload)
	if err != nil {
		return nil, instance.Fields{}, fmt.Errorf("ping %s: %w", raw.PingId, err)
	}
	return &servicepingv1.EnrichedPing{
		PingId:      raw.PingId,
		UsageDataId: raw.UsageDataId,
		ReceivedAt:  raw.ReceivedAt,
		Instance:    f.Instance,
		License:     f.License,
		Enrichment: &servicepingv1.Enrichment{
			Status:     servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_SKIPPED,
			Reason:     "no directory configured",
			EnrichedAt: timestamppb.New(now),
			ReenrichId: raw.ReenrichId,
		},
		Payload:     raw.Payload,
		Source:      raw.Source,
		DevopsScore: raw.GetDevops().GetAnswer(),
	}, f, nil
}
