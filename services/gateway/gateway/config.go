package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/redact"
)

// Config of the gateway; every field has an environment variable.
type Config struct {
	// Listen is the HTTP address (host:port) Run serves on.
	Listen string `env:"GATEWAY_LISTEN, default=127.0.0.1:8080"`
	// NATS is the connection (NATS_URL, NATS_CREDS, NATS_TLS_*) and the
	// settings of the streams the standalone binary creates (STREAM_*).
	lifecycle.NATS
	// Profiling serves Go's profiles under /debug/pprof/ beside /metrics
	// (PPROF=true; off by default): the all-in-one's too, whose metrics
	// the gateway serves.
	Profiling lifecycle.Profiling

	// MaxBodyBytes caps a request body as received (compressed when gzip).
	MaxBodyBytes int64 `env:"GATEWAY_MAX_BODY_BYTES, default=2097152"`
	// MaxDecompressedBytes caps a body after gzip decompression.
	MaxDecompressedBytes int64 `env:"GATEWAY_MAX_DECOMPRESSED_BYTES, default=20971520"`
	// MaxDepth caps JSON nesting (the root object is level 1).
	MaxDepth int `env:"GATEWAY_MAX_DEPTH, default=32"`
	// MaxLeaves caps the scalar values in one body.
	MaxLeaves int `env:"GATEWAY_MAX_LEAVES, default=100000"`

	// PublishTimeout bounds the wait for a JetStream acknowledgement.
	PublishTimeout time.Duration `env:"GATEWAY_PUBLISH_TIMEOUT, default=5s"`
	// MaxInflight bounds the requests being read, validated and published at
	// once (it bounds memory and in-flight publishes alike).
	MaxInflight int `env:"GATEWAY_MAX_INFLIGHT, default=64"`
	// InflightWait is how long a request may queue for a slot before a 503.
	InflightWait time.Duration `env:"GATEWAY_INFLIGHT_WAIT, default=250ms"`
	// RetryAfter is the Retry-After answered with a 503.
	RetryAfter time.Duration `env:"GATEWAY_RETRY_AFTER, default=30s"`

	// RatePerUUID is the sustained request rate allowed per instance uuid
	// (requests per second); 0 disables the per-uuid limit.
	RatePerUUID float64 `env:"GATEWAY_RATE_PER_UUID, default=1"`
	// BurstPerUUID is the per-uuid bucket size.
	BurstPerUUID int `env:"GATEWAY_BURST_PER_UUID, default=20"`
	// RatePerIP is the sustained request rate per client IP; 0 disables it.
	RatePerIP float64 `env:"GATEWAY_RATE_PER_IP, default=50"`
	// BurstPerIP is the per-IP bucket size.
	BurstPerIP int `env:"GATEWAY_BURST_PER_IP, default=500"`
	// RateLimitKeys bounds the buckets kept in memory per limiter (least
	// recently used ones are forgotten).
	RateLimitKeys int `env:"GATEWAY_RATE_LIMIT_KEYS, default=100000"`
	// TrustForwardedFor takes the client IP from the first X-Forwarded-For
	// entry (only behind a proxy that sets it).
	TrustForwardedFor bool `env:"GATEWAY_TRUST_FORWARDED_FOR, default=false"`

	// DevOpsScore answers the DevOps Score (conv_index's 30 fields) to every
	// ping after an instance's first (docs/devops-score.md).
	DevOpsScore bool `env:"GATEWAY_DEVOPS_SCORE, default=true"`
	// DevOpsTimeout bounds each read or write of the score's key-value
	// bucket; past it the ping is answered with usage_data_id only.
	DevOpsTimeout time.Duration `env:"GATEWAY_DEVOPS_TIMEOUT, default=250ms"`
	// DevOpsLeadersTTL is how long the leaders are cached between reads.
	DevOpsLeadersTTL time.Duration `env:"GATEWAY_DEVOPS_LEADERS_TTL, default=1m"`

	// ReadTimeout bounds reading one request, headers and body.
	ReadTimeout time.Duration `env:"GATEWAY_READ_TIMEOUT, default=60s"`
	// ShutdownTimeout bounds the graceful drain of in-flight requests.
	ShutdownTimeout time.Duration `env:"GATEWAY_SHUTDOWN_TIMEOUT, default=20s"`

	// TLSCert and TLSKey are PEM files: the certificate (chain, leaf
	// first) and its private key. Both set: the gateway serves HTTPS only,
	// HTTP/2 and HTTP/1.1; neither: plain HTTP. They are read at start (a
	// renewed certificate takes a restart).
	TLSCert string `env:"GATEWAY_TLS_CERT"`
	TLSKey  string `env:"GATEWAY_TLS_KEY"`
}

// TLS is the server TLS configuration of GATEWAY_TLS_CERT and
// GATEWAY_TLS_KEY, nil when neither is set.
func (c Config) TLS() (*tls.Config, error) {
	switch {
	case c.TLSCert == "" && c.TLSKey == "":
		return nil, nil
	case c.TLSCert == "" || c.TLSKey == "":
		return nil, errors.New("GATEWAY_TLS_CERT and GATEWAY_TLS_KEY go together: set both to serve HTTPS, or neither")
	}
	t, err := lifecycle.LoadTLS(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("GATEWAY_TLS_CERT, GATEWAY_TLS_KEY: %w", err)
	}
	return t, nil
}

// Scheme is the gateway's URL scheme: https with TLS, http without.
func (c Config) Scheme() string {
	if c.TLSCert != "" {
		return "https"
	}
	return "http"
}

// LoadConfig reads the gateway's configuration from lookup (nil: the
// process environment), unset variables taking the defaults of the tags,
// and validates it.
func LoadConfig(ctx context.Context, lookup envconfig.Lookuper) (Config, error) {
	return lifecycle.ReadConfig[Config](ctx, lookup)
}

// LogValue is the configuration as logged, credentials masked.
func (c Config) LogValue() slog.Value { return redact.Config(c) }

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("GATEWAY_LISTEN %q: %w", c.Listen, err))
	}
	if c.NATSURL == "" {
		errs = append(errs, errors.New("NATS_URL is empty"))
	}
	errs = append(errs, c.NATS.Validate())
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("GATEWAY_MAX_BODY_BYTES %d must be positive", c.MaxBodyBytes))
	}
	if c.MaxDecompressedBytes < c.MaxBodyBytes {
		errs = append(errs, fmt.Errorf("GATEWAY_MAX_DECOMPRESSED_BYTES %d must be at least GATEWAY_MAX_BODY_BYTES %d", c.MaxDecompressedBytes, c.MaxBodyBytes))
	}
	if c.MaxDepth < 2 || c.MaxDepth > 1000 {
		errs = append(errs, fmt.Errorf("GATEWAY_MAX_DEPTH %d must be within 2..1000", c.MaxDepth))
	}
	if c.MaxLeaves < 1 {
		errs = append(errs, fmt.Errorf("GATEWAY_MAX_LEAVES %d must be positive", c.MaxLeaves))
	}
	if c.PublishTimeout <= 0 {
		errs = append(errs, fmt.Errorf("GATEWAY_PUBLISH_TIMEOUT %s must be positive", c.PublishTimeout))
	}
	if c.MaxInflight < 1 {
		errs = append(errs, fmt.Errorf("GATEWAY_MAX_INFLIGHT %d must be positive", c.MaxInflight))
	}
	if c.InflightWait < 0 {
		errs = append(errs, fmt.Errorf("GATEWAY_INFLIGHT_WAIT %s must not be negative", c.InflightWait))
	}
	if c.RetryAfter < time.Second {
		errs = append(errs, fmt.Errorf("GATEWAY_RETRY_AFTER %s must be at least 1s", c.RetryAfter))
	}
	if c.RatePerUUID < 0 || c.RatePerIP < 0 {
		errs = append(errs, errors.New("GATEWAY_RATE_PER_UUID and GATEWAY_RATE_PER_IP must not be negative"))
	}
	if c.RatePerUUID > 0 && c.BurstPerUUID < 1 {
		errs = append(errs, fmt.Errorf("GATEWAY_BURST_PER_UUID %d must be positive", c.BurstPerUUID))
	}
	if c.RatePerIP > 0 && c.BurstPerIP < 1 {
		errs = append(errs, fmt.Errorf("GATEWAY_BURST_PER_IP %d must be positive", c.BurstPerIP))
	}
	if (c.RatePerUUID > 0 || c.RatePerIP > 0) && c.RateLimitKeys < 1 {
		errs = append(errs, fmt.Errorf("GATEWAY_RATE_LIMIT_KEYS %d must be positive", c.RateLimitKeys))
	}
	if c.DevOpsScore && c.DevOpsTimeout <= 0 {
		errs = append(errs, fmt.Errorf("GATEWAY_DEVOPS_TIMEOUT %s must be positive", c.DevOpsTimeout))
	}
	if c.DevOpsLeadersTTL < 0 {
		errs = append(errs, fmt.Errorf("GATEWAY_DEVOPS_LEADERS_TTL %s must not be negative", c.DevOpsLeadersTTL))
	}
	if c.ReadTimeout < 0 || c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("GATEWAY_READ_TIMEOUT and GATEWAY_SHUTDOWN_TIMEOUT must not be negative"))
	}
	if _, err := c.TLS(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
