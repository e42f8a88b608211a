package enricher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/redact"
)

// Config of the enricher; every field has an environment variable, and its
// default is in the tag. The settings added after the first cut (lookups,
// cache, CRM workers) keep working at their zero value, which takes the
// tag's default, so a Config built in code without them still validates.
type Config struct {
	// NATS is the connection (NATS_URL, NATS_CREDS, NATS_TLS_*) and the
	// settings of the streams the standalone binary creates (STREAM_*).
	lifecycle.NATS
	// MetricsListen serves /metrics and /healthz in the standalone binary;
	// empty: none (the all-in-one serves its metrics on the gateway).
	MetricsListen string `env:"METRICS_LISTEN"`
	// Workers process messages concurrently.
	Workers int `env:"ENRICHER_WORKERS, default=4"`
	// AckWait is the consumers' ack wait: how long after an enricher dies
	// the messages it held are redelivered to another (or to it,
	// restarted). A live enricher keeps the message each worker handles
	// alive with InProgress every third of it, however long its lookups
	// and publishes take; a worker pulls a message only when it is free,
	// so none waits unseen in a buffer.
	AckWait time.Duration `env:"ENRICHER_ACK_WAIT, default=15s"`
	// MaxAckPending bounds the messages in flight; each worker holds one.
	MaxAckPending int `env:"ENRICHER_MAX_ACK_PENDING, default=256"`
	// NakMaxDelay caps the redelivery delay after a transient failure.
	NakMaxDelay time.Duration `env:"ENRICHER_NAK_MAX_DELAY, default=30s"`
	// PublishTimeout bounds one publish of an enriched ping.
	PublishTimeout time.Duration `env:"ENRICHER_PUBLISH_TIMEOUT, default=10s"`

	// DirectoryURL selects the Licenses source: postgres://… (the directory
	// database of deploy/postgres/) or http(s)://… (the Licenses API of
	// api/openapi.yaml). Empty: no lookups, every ping is "skipped".
	DirectoryURL string `env:"DIRECTORY_URL"`
	// DirectoryToken is sent as a bearer token to the Licenses API.
	DirectoryToken string `env:"DIRECTORY_TOKEN" secret:"true"`
	// CRMURL is the CRM API (account lookups and usage pushes). Empty: the
	// directory database plays the CRM in postgres mode; with an HTTP
	// directory, accounts are not looked up (status "partial").
	CRMURL string `env:"CRM_URL"`
	// CRMToken is sent as a bearer token to the CRM API.
	CRMToken string `env:"CRM_TOKEN" secret:"true"`
	// RedisURL is the lookup cache (redis://host:port/db). Empty: an
	// in-process LRU of CacheSize entries.
	RedisURL string `env:"REDIS_URL"`
	// CachePrefix starts every Redis key.
	CachePrefix string `env:"ENRICHER_CACHE_PREFIX, default=serviceping:enricher:"`
	// CacheSize bounds the in-process LRU (entries).
	CacheSize int `env:"ENRICHER_CACHE_SIZE, default=100000"`
	// CacheTTL keeps found answers; CacheNegativeTTL not-found ones.
	CacheTTL         time.Duration `env:"ENRICHER_CACHE_TTL, default=1h"`
	CacheNegativeTTL time.Duration `env:"ENRICHER_CACHE_NEGATIVE_TTL, default=5m"`
	// CacheTimeout bounds one Redis command (and dial).
	CacheTimeout time.Duration `env:"ENRICHER_CACHE_TIMEOUT, default=250ms"`
	// LookupTimeout bounds one call to the directory or the CRM.
	LookupTimeout time.Duration `env:"ENRICHER_LOOKUP_TIMEOUT, default=2s"`
	// LookupBudget bounds the time one ping spends retrying lookups; then it
	// goes on with status "failed".
	LookupBudget time.Duration `env:"ENRICHER_LOOKUP_BUDGET, default=10s"`
	// RetryInitial and RetryMax shape the jittered exponential backoff.
	RetryInitial time.Duration `env:"ENRICHER_RETRY_INITIAL, default=100ms"`
	RetryMax     time.Duration `env:"ENRICHER_RETRY_MAX, default=2s"`
	// BreakerFailures consecutive transient failures open a dependency's
	// circuit breaker for BreakerOpenFor, after which one probe is sent.
	BreakerFailures int           `env:"ENRICHER_BREAKER_FAILURES, default=5"`
	BreakerOpenFor  time.Duration `env:"ENRICHER_BREAKER_OPEN_FOR, default=30s"`
	// CRMWorkers deliver queued usage pushes concurrently.
	CRMWorkers int `env:"ENRICHER_CRM_WORKERS, default=2"`
}

// LoadConfig reads the enricher's configuration from lookup (nil: the
// process environment), unset variables taking the defaults of the tags,
// and validates it.
func LoadConfig(ctx context.Context, lookup envconfig.Lookuper) (Config, error) {
	return lifecycle.ReadConfig[Config](ctx, lookup)
}

// minAckWait is the shortest AckWait: a heartbeat every third of it, at
// least a second apart, leaves room for one to be late.
const minAckWait = 3 * time.Second

// withDefaults gives the settings added after the first cut the defaults of
// their tags where they are zero. The others keep their zero value, which
// Validate names.
func (c Config) withDefaults() Config {
	d, _ := lifecycle.Defaults[Config]() // an error leaves d zero: Validate then names the settings
	orDefault(&c.CachePrefix, d.CachePrefix)
	orDefault(&c.CacheSize, d.CacheSize)
	orDefault(&c.CacheTTL, d.CacheTTL)
	orDefault(&c.CacheNegativeTTL, d.CacheNegativeTTL)
	orDefault(&c.CacheTimeout, d.CacheTimeout)
	orDefault(&c.LookupTimeout, d.LookupTimeout)
	orDefault(&c.LookupBudget, d.LookupBudget)
	orDefault(&c.RetryInitial, d.RetryInitial)
	orDefault(&c.RetryMax, d.RetryMax)
	orDefault(&c.BreakerFailures, d.BreakerFailures)
	orDefault(&c.BreakerOpenFor, d.BreakerOpenFor)
	orDefault(&c.CRMWorkers, d.CRMWorkers)
	return c
}

func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// directoryKind is "postgres", "http" or "" (none).
func (c Config) directoryKind() string {
	switch {
	case c.DirectoryURL == "":
		return ""
	case strings.HasPrefix(c.DirectoryURL, "postgres://"), strings.HasPrefix(c.DirectoryURL, "postgresql://"):
		return "postgres"
	case strings.HasPrefix(c.DirectoryURL, "http://"), strings.HasPrefix(c.DirectoryURL, "https://"):
		return "http"
	}
	return "invalid"
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("ENRICHER_WORKERS must be at least 1, got %d", c.Workers))
	}
	if c.AckWait < minAckWait {
		errs = append(errs, fmt.Errorf("ENRICHER_ACK_WAIT must be at least %s (held messages are kept alive every third of it), got %s", minAckWait, c.AckWait))
	}
	if c.MaxAckPending < c.Workers {
		errs = append(errs, fmt.Errorf("ENRICHER_MAX_ACK_PENDING (%d) must be at least ENRICHER_WORKERS (%d)", c.MaxAckPending, c.Workers))
	}
	if c.PublishTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ENRICHER_PUBLISH_TIMEOUT must be positive, got %s", c.PublishTimeout))
	}
	if c.NakMaxDelay <= 0 {
		errs = append(errs, errors.New("ENRICHER_NAK_MAX_DELAY must be positive"))
	}
	errs = append(errs, c.NATS.Validate())
	if c.directoryKind() == "invalid" {
		errs = append(errs, fmt.Errorf("DIRECTORY_URL %q must be postgres://… or http(s)://…", redact.URL(c.DirectoryURL)))
	}
	if c.CRMURL != "" && !strings.HasPrefix(c.CRMURL, "http://") && !strings.HasPrefix(c.CRMURL, "https://") {
		errs = append(errs, fmt.Errorf("CRM_URL %q must be http(s)://…", redact.URL(c.CRMURL)))
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") && !strings.HasPrefix(c.RedisURL, "unix://") {
		errs = append(errs, fmt.Errorf("REDIS_URL %q must be redis://…, rediss://… or unix://…", redact.URL(c.RedisURL)))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ENRICHER_CACHE_TTL", c.CacheTTL}, {"ENRICHER_CACHE_NEGATIVE_TTL", c.CacheNegativeTTL},
		{"ENRICHER_CACHE_TIMEOUT", c.CacheTimeout}, {"ENRICHER_LOOKUP_TIMEOUT", c.LookupTimeout},
		{"ENRICHER_LOOKUP_BUDGET", c.LookupBudget}, {"ENRICHER_RETRY_INITIAL", c.RetryInitial},
		{"ENRICHER_RETRY_MAX", c.RetryMax}, {"ENRICHER_BREAKER_OPEN_FOR", c.BreakerOpenFor},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", d.name, d.v))
		}
	}
	if c.RetryMax < c.RetryInitial {
		errs = append(errs, fmt.Errorf("ENRICHER_RETRY_MAX (%s) must be at least ENRICHER_RETRY_INITIAL (%s)", c.RetryMax, c.RetryInitial))
	}
	if c.CacheSize < 1 {
		errs = append(errs, fmt.Errorf("ENRICHER_CACHE_SIZE must be at least 1, got %d", c.CacheSize))
	}
	if c.BreakerFailures < 1 {
		errs = append(errs, fmt.Errorf("ENRICHER_BREAKER_FAILURES must be at least 1, got %d", c.BreakerFailures))
	}
	if c.CRMWorkers < 1 {
		errs = append(errs, fmt.Errorf("ENRICHER_CRM_WORKERS must be at least 1, got %d", c.CRMWorkers))
	}
	return errors.Join(errs...)
}

// LogValue is the configuration as logged, tokens and credentials masked.
func (c Config) LogValue() slog.Value { return redact.Config(c.withDefaults()) }
