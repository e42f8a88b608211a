// Package collector is the embeddable instance-side Service Ping collector:
// it loads metric definitions, computes the payload from the instance's
// PostgreSQL and Redis, submits it to a gateway with GitLab's client
// contract, and serves the event-tracking endpoints.
package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
	"go.yaml.in/yaml/v3"

	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/redact"
	"github.com/serviceping/serviceping/services/collector/internal/payload"
)

// Config is the collector's configuration: environment variables (flags
// mirror them) plus an optional YAML file (--config) for the instance
// settings, license and privacy rules; LoadConfig reads them all.
type Config struct {
	Enabled          bool          `env:"USAGE_PING_ENABLED, default=true" yaml:"usage_ping_enabled"`
	DefinitionsDir   string        `env:"COLLECTOR_DEFINITIONS" yaml:"definitions"`
	SchemaDir        string        `env:"COLLECTOR_SCHEMA_DIR" yaml:"schema_dir"` // empty: embedded copy
	MappingFile      string        `env:"COLLECTOR_INSTRUMENTATIONS" yaml:"instrumentations"`
	KnownEvents      string        `env:"COLLECTOR_KNOWN_EVENTS" yaml:"known_events"`
	DatabaseURL      string        `env:"DATABASE_URL" yaml:"database_url"`
	RedisURL         string        `env:"REDIS_URL" yaml:"redis_url"`
	RedisPrefix      string        `env:"COLLECTOR_REDIS_PREFIX" yaml:"redis_prefix"`
	GatewayURL       string        `env:"GATEWAY_URL, default=http://127.0.0.1:8080" yaml:"gateway_url"`
	PrometheusURL    string        `env:"PROMETHEUS_URL" yaml:"prometheus_url"`
	Listen           string        `env:"COLLECTOR_LISTEN, default=127.0.0.1:8090" yaml:"listen"`
	DataDir          string        `env:"COLLECTOR_DATA_DIR, default=./data/collector" yaml:"data_dir"`
	MetricTimeout    time.Duration `env:"COLLECTOR_METRIC_TIMEOUT, default=60s" yaml:"metric_timeout"`
	StatementTimeout time.Duration `env:"COLLECTOR_STATEMENT_TIMEOUT, default=15s" yaml:"statement_timeout"`
	Concurrency      int           `env:"COLLECTOR_CONCURRENCY, default=4" yaml:"concurrency"`
	SubmitAttempts   int           `env:"COLLECTOR_SUBMIT_ATTEMPTS, default=4" yaml:"submit_attempts"`
	SubmitBackoff    time.Duration `env:"COLLECTOR_SUBMIT_BACKOFF, default=2s" yaml:"submit_backoff"`
	LogLevel         string        `env:"LOG_LEVEL, default=info" yaml:"log_level"`
	// ExcludeOptional is GitLab's "include optional data in Service Ping"
	// switched off: metrics of data category optional are neither computed
	// nor sent, settings.collected_data_categories says so.
	ExcludeOptional bool `env:"COLLECTOR_EXCLUDE_OPTIONAL_METRICS" yaml:"exclude_optional_metrics"`
	// ConnectivityURL replaces GitLab's snowplow test endpoint that
	// TestGitlabNetConnectivityMetric posts to.
	ConnectivityURL string `env:"COLLECTOR_CONNECTIVITY_URL" yaml:"connectivity_url"`
	// APIToken protects the instance API (GET /api/v4/usage_data/*); empty
	// leaves it off. The tracking endpoints (POST /usage_data/increment_*)
	// take it too, as GitLab's API takes a personal access token: the
	// PRIVATE-TOKEN header or Authorization: Bearer. Without it they are
	// open, which Run allows only on a loopback COLLECTOR_LISTEN (CheckListen).
	APIToken string `env:"COLLECTOR_API_TOKEN" yaml:"api_token" secret:"true"`
	// Profiling serves Go's profiles under /debug/pprof/ beside /metrics
	// (PPROF=true; off by default).
	Profiling lifecycle.Profiling `yaml:"-"`

	Instance Instance       `yaml:"instance"`
	Settings map[string]any `yaml:"settings"`
	// Gitlab is the instance's gitlab.yml (its production: section): what
	// GitlabConfigMetric and the git, gitaly, pages, registry, object
	// store and mail metrics read.
	Gitlab map[string]any `yaml:"gitlab"`
	// FeatureFlags are GitLab's feature flags that switch tracking and
	// aggregation (redis_hll_tracking, usage_data_api, usage_data_<event>,
	// known events' and aggregates' feature_flag); unlisted flags are on.
	FeatureFlags map[string]bool `yaml:"feature_flags"`
	License      string          `yaml:"license_file"`
	Privacy      payload.Privacy `yaml:"privacy"`
}

// Instance identity; empty UUID ⇒ generated once and kept in DataDir.
type Instance struct {
	UUID             string `yaml:"uuid"`
	Hostname         string `yaml:"hostname"`
	Version          string `yaml:"version"`
	InstallationType string `yaml:"installation_type"`
	Edition          string `yaml:"edition"`
}

// LoadConfig reads the collector's configuration; each source wins over
// the ones before it: the defaults in the env tags, the YAML file at path
// (none when empty), the environment (env; nil: the process's), and flags,
// the values of the command line's flags keyed by the variable each
// mirrors. A variable set to the empty string counts as unset. New
// validates the result: seed and dictionary need only part of it.
func LoadConfig(ctx context.Context, path string, flags map[string]string, env envconfig.Lookuper) (Config, error) {
	if env == nil {
		env = envconfig.OsLookuper()
	}
	lookup := envconfig.MultiLookuper(envconfig.MapLookuper(flags), envconfig.LookuperFunc(func(name string) (string, bool) {
		v, ok := env.Lookup(name)
		return v, ok && v != ""
	}))
	var c Config
	var fileEnabled *bool
	if path != "" {
		var err error
		if fileEnabled, err = c.LoadFile(path); err != nil {
			return Config{}, err
		}
	}
	// Overwrite: a variable replaces the file's value; a default fills only
	// what the file left zero.
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: lookup, DefaultOverwrite: true}); err != nil {
		return Config{}, fmt.Errorf("read configuration from the environment: %w", err)
	}
	if _, set := lookup.Lookup("USAGE_PING_ENABLED"); fileEnabled != nil && !set {
		c.Enabled = *fileEnabled // the file's false is zero: the default took its place
	}
	return c, nil
}

// LogValue is the configuration as logged, credentials masked.
func (c Config) LogValue() slog.Value { return redact.Config(c) }

// LoadFile decodes a YAML config file into c (unknown keys are errors) and
// reports usage_ping_enabled when the file sets it.
func (c *Config) LoadFile(path string) (enabled *bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	var sw struct {
		Enabled *bool `yaml:"usage_ping_enabled"`
	}
	if err := yaml.Unmarshal(b, &sw); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	return sw.Enabled, nil
}

// Defaults fills what neither env nor file set.
func (c *Config) Defaults() {
	if c.Instance.Version == "" {
		c.Instance.Version = "17.0.0"
	}
	if c.Instance.InstallationType == "" {
		c.Instance.InstallationType = "serviceping-collector"
	}
	if c.Instance.Edition == "" {
		c.Instance.Edition = "CE"
	}
	if c.Instance.Hostname == "" {
		c.Instance.Hostname, _ = os.Hostname()
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.DefinitionsDir == "" {
		errs = append(errs, errors.New("definitions directory is required (--definitions or COLLECTOR_DEFINITIONS)"))
	}
	for name, v := range map[string]string{"DATABASE_URL": c.DatabaseURL, "REDIS_URL": c.RedisURL, "GATEWAY_URL": c.GatewayURL, "PROMETHEUS_URL": c.PrometheusURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || u.Scheme == "" {
			errs = append(errs, fmt.Errorf("%s %q is not a URL", name, redact.URL(v)))
		}
	}
	if c.MetricTimeout <= 0 {
		errs = append(errs, errors.New("metric timeout must be positive"))
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		errs = append(errs, errors.New("concurrency must be within 1..64"))
	}
	if c.SubmitAttempts < 1 {
		errs = append(errs, errors.New("submit attempts must be at least 1"))
	}
	return errors.Join(errs...)
}

// CheckListen refuses to serve the tracking endpoints without a token
// beyond loopback: anyone reaching them could inflate the instance's usage.
func (c *Config) CheckListen() error {
	if c.APIToken == "" && !lifecycle.IsLoopback(c.Listen) {
		return fmt.Errorf("COLLECTOR_LISTEN %s is beyond loopback: set COLLECTOR_API_TOKEN, the token callers of the tracking endpoints present, or listen on 127.0.0.1", c.Listen)
	}
	return nil
}
