// Package resolve walks the lookup chain of a ping: license → subscription
// (the Licenses application) → account (the CRM), with a cache in front of
// each step, negative answers cached for a shorter time, one lookup in
// flight per key however many pings ask at once, and transient failures
// retried within a per-ping budget. It also records each license's last
// ping time.
package resolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/serviceping/serviceping/pkg/metric"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/enricher/internal/directory"
	"github.com/serviceping/serviceping/services/enricher/internal/guard"
)

// Licenses is the Licenses application.
type Licenses interface {
	LookupLicense(ctx context.Context, k directory.LicenseKey) (directory.License, error)
	TouchLicense(ctx context.Context, k directory.LicenseKey, at time.Time, pingID string) error
}

// Accounts is the CRM's subscription → account lookup.
type Accounts interface {
	LookupAccount(ctx context.Context, subscriptionID string) (directory.Account, error)
}

// Cache stores lookup answers (Redis or in-process).
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// Config of a Resolver.
type Config struct {
	// Licenses is required; Accounts may be nil (no CRM: subscriptions
	// resolve, accounts do not, the status is partial).
	Licenses      Licenses
	LicensesGuard *guard.Guard
	Accounts      Accounts
	AccountsGuard *guard.Guard
	// Cache is required; CacheGuard may be nil (an in-process cache does
	// not fail).
	Cache      Cache
	CacheGuard *guard.Guard
	// TTL for found answers, NegativeTTL for not-found ones.
	TTL, NegativeTTL time.Duration
	// Backoff between retries of a transient failure.
	Backoff guard.Backoff
	// TouchMemo is how many licenses' last recorded ping time are
	// remembered, so a repeated ping does not write again (0: 10,000).
	TouchMemo int
}

// Result of resolving one ping.
type Result struct {
	Status         servicepingv1.EnrichmentStatus
	SubscriptionID string
	AccountID      string
	Plan           string
	Seats          int64
	// Key is the license identifier used; Known is true when the Licenses
	// application knows it.
	Key   directory.LicenseKey
	Known bool
	// Reason explains a status other than matched.
	Reason string
}

// Resolver is safe for concurrent use.
type Resolver struct {
	cfg     Config
	flights singleflight.Group
	touched *lru.Cache[string, time.Time]
	m       metrics
}

type metrics struct {
	cache   *prometheus.CounterVec
	lookups *prometheus.CounterVec
	latency *prometheus.HistogramVec
	touches *prometheus.CounterVec
}

// New registers the resolver's metrics on reg.
func New(cfg Config, reg prometheus.Registerer) (*Resolver, error) {
	if cfg.Licenses == nil || cfg.LicensesGuard == nil || cfg.Cache == nil {
		return nil, errors.New("resolver: licenses source, its guard and a cache are required")
	}
	if cfg.Accounts != nil && cfg.AccountsGuard == nil {
		return nil, errors.New("resolver: accounts source without a guard")
	}
	if cfg.TouchMemo <= 0 {
		cfg.TouchMemo = 10_000
	}
	touched, err := lru.New[string, time.Time](cfg.TouchMemo)
	if err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	var series metric.Set
	m := metrics{
		cache: series.CounterVec("serviceping_enricher_cache_requests_total",
			"Cache reads by lookup (license, account) and result (hit, negative_hit, miss, error).", "lookup", "result"),
		lookups: series.CounterVec("serviceping_enricher_lookups_total",
			"Calls to a source by lookup (license, account) and result (found, not_found, error, breaker_open).", "lookup", "result"),
		latency: series.HistogramVec("serviceping_enricher_lookup_duration_seconds",
			"Duration of one call to a source.", prometheus.ExponentialBuckets(0.0005, 2, 14), "lookup"),
		touches: series.CounterVec("serviceping_enricher_license_ping_time_updates_total",
			"Last-ping-time updates of licenses by result (written, skipped_older, error).", "result"),
	}
	if err := series.Register(reg); err != nil {
		return nil, fmt.Errorf("register resolver metrics: %w", err)
	}
	return &Resolver{cfg: cfg, touched: touched, m: m}, nil
}

// Resolve walks the chain for a ping's license. Lookups that fail
// transiently are retried until deadline; then the result is FAILED. ctx
// ending (shutdown) also yields FAILED: the caller must check ctx.Err()
// and not publish such a result.
func (r *Resolver) Resolve(ctx context.Context, lic *servicepingv1.License, deadline time.Time) Result {
	key, ok := directory.KeyOf(lic.GetMd5(), lic.GetSha256(), lic.GetId())
	if !ok {
		return Result{Status: servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_UNMATCHED, Reason: "no license in ping"}
	}
	res := Result{Key: key}
	var l directory.License
	err := r.cached(ctx, "license", "lic:"+key.String(), deadline, &l, func(ctx context.Context) (any, error) {
		return r.cfg.Licenses.LookupLicense(ctx, key)
	}, r.cfg.LicensesGuard)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		res.Status, res.Reason = servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_UNMATCHED, "license "+string(key.Kind)+" unknown"
		return res
	case err != nil:
		res.Status, res.Reason = servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_FAILED, "license lookup: "+err.Error()
		return res
	}
	res.Known, res.SubscriptionID, res.Plan, res.Seats = true, l.SubscriptionID, l.Plan, l.Seats
	if l.SubscriptionID == "" {
		res.Status, res.Reason = servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_UNMATCHED, "license has no subscription"
		return res
	}
	if r.cfg.Accounts == nil {
		res.Status, res.Reason = servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_PARTIAL, "no CRM configured"
		return res
	}
	var a directory.Account
	err = r.cached(ctx, "account", "acct:"+l.SubscriptionID, deadline, &a, func(ctx context.Context) (any, error) {
		return r.cfg.Accounts.LookupAccount(ctx, l.SubscriptionID)
	}, r.cfg.AccountsGuard)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		res.Status, res.Reason = servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_PARTIAL, "no account for subscription"
	case err != nil:
		res.Status, res.Reason = servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_FAILED, "account lookup: "+err.Error()
	default:
		res.Status, res.AccountID = servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_MATCHED, a.AccountID
	}
	return res
}

// Touch records at as the license's last ping time (never moving it back),
// retrying transient failures until deadline. A time not later than one
// this process recorded already is skipped.
func (r *Resolver) Touch(ctx context.Context, key directory.LicenseKey, at time.Time, pingID string, deadline time.Time) error {
	memo := key.String()
	if last, ok := r.touched.Get(memo); ok && !at.After(last) {
		r.m.touches.WithLabelValues("skipped_older").Inc()
		return nil
	}
	err := guard.Retry(ctx, deadline, r.cfg.Backoff, directory.Transient, func() error {
		return r.cfg.LicensesGuard.Do(ctx, func(ctx context.Context) error {
			return r.cfg.Licenses.TouchLicense(ctx, key, at, pingID)
		})
	})
	if err != nil {
		r.m.touches.WithLabelValues("error").Inc()
		return err
	}
	r.m.touches.WithLabelValues("written").Inc()
	// Keep the latest time: a concurrent touch may have stored a later one.
	if last, ok := r.touched.Get(memo); !ok || at.After(last) {
		r.touched.Add(memo, at)
	}
	return nil
}

// cacheEntry is what the cache holds: a found answer, or a not-found mark.
type cacheEntry struct {
	Found bool            `json:"f"`
	Value json.RawMessage `json:"v,omitempty"`
}

// cached answers a lookup from the cache, else from the source through
// guard. Concurrent lookups of one key share a single call; a failed call
// is retried with backoff until deadline.
func (r *Resolver) cached(ctx context.Context, lookup, key string, deadline time.Time, out any, fetch func(context.Context) (any, error), g *guard.Guard) error {
	if e, ok := r.cacheGet(ctx, lookup, key); ok {
		return e.decode(out)
	}
	var e cacheEntry
	err := guard.Retry(ctx, deadline, r.cfg.Backoff, directory.Transient, func() error {
		v, err, _ := r.flights.Do(key, func() (any, error) {
			// The call outlives any one waiter's context; guard bounds it.
			fctx := context.WithoutCancel(ctx)
			// Another flight may have filled the cache since our read.
			if e, ok := r.cacheGet(fctx, lookup, key); ok {
				return e, nil
			}
			start := time.Now()
			var v any
			err := g.Do(fctx, func(ctx context.Context) error {
				var err error
				v, err = fetch(ctx)
				return err
			})
			r.m.latency.WithLabelValues(lookup).Observe(time.Since(start).Seconds())
			switch {
			case err == nil:
				b, mErr := json.Marshal(v)
				if mErr != nil {
					return nil, fmt.Errorf("encode %s answer: %w", lookup, mErr)
				}
				r.m.lookups.WithLabelValues(lookup, "found").Inc()
				e := cacheEntry{Found: true, Value: b}
				r.cacheSet(fctx, key, e, r.cfg.TTL)
				return e, nil
			case errors.Is(err, directory.ErrNotFound):
				r.m.lookups.WithLabelValues(lookup, "not_found").Inc()
				e := cacheEntry{}
				r.cacheSet(fctx, key, e, r.cfg.NegativeTTL)
				return e, nil
			case errors.Is(err, guard.ErrOpen):
				r.m.lookups.WithLabelValues(lookup, "breaker_open").Inc()
				return nil, err
			default:
				r.m.lookups.WithLabelValues(lookup, "error").Inc()
				return nil, err
			}
		})
		if err != nil {
			return err
		}
		e = v.(cacheEntry)
		return nil
	})
	if err != nil {
		return err
	}
	return e.decode(out)
}

func (e cacheEntry) decode(out any) error {
	if !e.Found {
		return directory.ErrNotFound
	}
	if err := json.Unmarshal(e.Value, out); err != nil {
		return fmt.Errorf("decode cached answer: %w", err)
	}
	return nil
}

// cacheGet reads the cache; an unreadable or failing cache is a miss (the
// source answers instead), counted as "error".
func (r *Resolver) cacheGet(ctx context.Context, lookup, key string) (cacheEntry, bool) {
	var (
		b     []byte
		found bool
	)
	op := func(ctx context.Context) error {
		var err error
		b, found, err = r.cfg.Cache.Get(ctx, key)
		return err
	}
	var err error
	if r.cfg.CacheGuard != nil {
		err = r.cfg.CacheGuard.Do(ctx, op)
	} else {
		err = op(ctx)
	}
	if err != nil {
		r.m.cache.WithLabelValues(lookup, "error").Inc()
		return cacheEntry{}, false
	}
	if !found {
		r.m.cache.WithLabelValues(lookup, "miss").Inc()
		return cacheEntry{}, false
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil {
		r.m.cache.WithLabelValues(lookup, "error").Inc()
		return cacheEntry{}, false
	}
	if e.Found {
		r.m.cache.WithLabelValues(lookup, "hit").Inc()
	} else {
		r.m.cache.WithLabelValues(lookup, "negative_hit").Inc()
	}
	return e, true
}

// cacheSet stores an answer; a failing cache is ignored (counted by the
// guard's breaker), the answer is still returned.
func (r *Resolver) cacheSet(ctx context.Context, key string, e cacheEntry, ttl time.Duration) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	op := func(ctx context.Context) error { return r.cfg.Cache.Set(ctx, key, b, ttl) }
	if r.cfg.CacheGuard != nil {
		_ = r.cfg.CacheGuard.Do(ctx, op)
	} else {
		_ = op(ctx)
	}
}
