// Package cache stores lookup answers for a while: in Redis when one is
// configured (shared by every enricher process), otherwise in an in-process
// LRU. Both store opaque bytes with a TTL per entry, so positive and
// negative answers can live for different times.
package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"
)

// Redis is a cache in a Redis database; keys get a prefix so several
// deployments (or tests) can share one server. Safe for concurrent use.
type Redis struct {
	client *redis.Client
	prefix string
}

// NewRedis prepares a client for url (redis://[user:pass@]host:port/db);
// it connects lazily. timeout bounds dialing and each command: a Redis that
// is down must cost little, the caller falls back to the source.
func NewRedis(url, prefix string, timeout time.Duration) (*Redis, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	opts.DialTimeout = timeout
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	opts.PoolTimeout = timeout
	// The caller's circuit breaker decides about retries.
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	opts.ContextTimeoutEnabled = true
	return &Redis{client: redis.NewClient(opts), prefix: prefix}, nil
}

// Get returns the value under key; found is false on a miss.
func (r *Redis) Get(ctx context.Context, key string) (value []byte, found bool, err error) {
	b, err := r.client.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis get: %w", err)
	}
	return b, true, nil
}

// Set stores value under key for ttl.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := r.client.Set(ctx, r.prefix+key, value, ttl).Err(); err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	return nil
}

// Ping checks the server answers.
func (r *Redis) Ping(ctx context.Context) error {
	return r.client.Ping(ctx).Err()
}

// Close releases the connections.
func (r *Redis) Close() error { return r.client.Close() }

// LRU is an in-process cache of bounded size. Entries expire individually
// (checked on read); the least recently used entry is evicted when full.
// Safe for concurrent use.
type LRU struct {
	c   *lru.Cache[string, entry]
	now func() time.Time
}

type entry struct {
	value   []byte
	expires time.Time
}

// NewLRU returns a cache holding at most size entries; now is the clock
// (nil: time.Now).
func NewLRU(size int, now func() time.Time) (*LRU, error) {
	c, err := lru.New[string, entry](size)
	if err != nil {
		return nil, fmt.Errorf("create LRU cache: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &LRU{c: c, now: now}, nil
}

// Get returns the value under key unless it expired.
func (l *LRU) Get(_ context.Context, key string) ([]byte, bool, error) {
	e, ok := l.c.Get(key)
	if !ok {
		return nil, false, nil
	}
	if !l.now().Before(e.expires) {
		l.c.Remove(key)
		return nil, false, nil
	}
	return e.value, true, nil
}

// Set stores value under key for ttl.
func (l *LRU) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	l.c.Add(key, entry{value: value, expires: l.now().Add(ttl)})
	return nil
}

// Len is the number of entries held (expired ones included until read).
func (l *LRU) Len() int { return l.c.Len() }
