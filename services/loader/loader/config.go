package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/redact"
	"github.com/serviceping/serviceping/services/loader/lake"
)

// Config is the loader's configuration, read from the environment.
type Config struct {
	// NATS is the connection (NATS_URL, NATS_CREDS, NATS_TLS_*) and the
	// settings of the streams the standalone binary creates (STREAM_*).
	lifecycle.NATS
	// LakeURL is the lake root (LAKE_URL): s3://bucket/prefix (any
	// S3-compatible store; credentials and region from the standard AWS_*
	// chain, region us-east-1 when unset) or a local directory.
	LakeURL string `env:"LAKE_URL, default=./data/lake"`
	// S3Endpoint overrides the S3 endpoint (S3_ENDPOINT), e.g.
	// http://127.0.0.1:9000 for MinIO; it switches to path-style requests.
	S3Endpoint string `env:"S3_ENDPOINT"`
	// ClickHouseURL is the warehouse (CLICKHOUSE_URL):
	// clickhouse://host:9000/db (native) or http://host:8123/db; the
	// database defaults to serviceping and is migrated at start. Empty
	// loads the lake only. With it the loader also consumes the REPORTS
	// stream (error reports and metric timings) into ping_errors and
	// ping_metric_timings; reports have no lake output, so without
	// CLICKHOUSE_URL REPORTS is left unconsumed. The reports consumer
	// (durable "loader" on REPORTS) uses the batch, ack and retry
	// settings below, LOADER_BATCH_MAX_PINGS counting reports.
	ClickHouseURL string `env:"CLICKHOUSE_URL"`
	// ClickHouseMaxRowsPerInsert splits a batch's rows of one table and
	// month into inserts of at most this many rows
	// (LOADER_CLICKHOUSE_MAX_ROWS_PER_INSERT); it bounds the loader's
	// memory while a block is built (~150 B per ping_metrics row).
	ClickHouseMaxRowsPerInsert int `env:"LOADER_CLICKHOUSE_MAX_ROWS_PER_INSERT, default=500000"`
	// ClickHouseInsert is how a batch reaches ClickHouse
	// (LOADER_CLICKHOUSE_INSERT): "rows" sends its rows over the
	// connection, at the same time as the lake is written; "lake" writes
	// the lake first, then has the server read the batch's Parquet files
	// with file() — half the work, but only where the server sees the lake
	// directory at the same path (the all-in-one's embedded engine); "auto"
	// is "rows" in the standalone loader and "lake" in the all-in-one when
	// its engine is embedded and its lake a directory.
	ClickHouseInsert string `env:"LOADER_CLICKHOUSE_INSERT, default=auto"`
	// ClickHouseCluster names the ClickHouse cluster the tables live on
	// (CLICKHOUSE_CLUSTER): migrations run ON CLUSTER with replicated and
	// Distributed tables, inserts go through the Distributed tables
	// (docs/cluster.md). Empty: one server.
	ClickHouseCluster string `env:"CLICKHOUSE_CLUSTER"`
	// Migrate applies the pending migrations at start (LOADER_MIGRATE);
	// false leaves them to `serviceping migrate` and only checks that they
	// were applied.
	Migrate bool `env:"LOADER_MIGRATE, default=true"`
	// MetricsListen serves /metrics and /healthz in the standalone binary
	// (METRICS_LISTEN, formerly LOADER_METRICS_ADDR); empty disables it.
	// The all-in-one serves its metrics on the gateway.
	MetricsListen string `env:"METRICS_LISTEN, default=127.0.0.1:9103"`

	// BatchMaxPings flushes a batch once it holds this many messages.
	BatchMaxPings int `env:"LOADER_BATCH_MAX_PINGS, default=500"`
	// BatchMaxBytes flushes a batch once its payloads reach this many bytes.
	BatchMaxBytes int64 `env:"LOADER_BATCH_MAX_BYTES, default=67108864"`
	// BatchMaxAge flushes a batch this long after its first message arrived.
	BatchMaxAge time.Duration `env:"LOADER_BATCH_MAX_AGE, default=5s"`
	// WriteTimeout bounds one batch write to all sinks.
	WriteTimeout time.Duration `env:"LOADER_WRITE_TIMEOUT, default=60s"`
	// AckWait is the consumer's ack wait: how long after a loader dies its
	// unacknowledged messages are redelivered to another (or to it,
	// restarted). A live loader keeps the messages it holds — in the open
	// batch and while writing — alive with InProgress every third of it, so
	// it may be much shorter than a batch's age and write.
	AckWait time.Duration `env:"LOADER_ACK_WAIT, default=15s"`
	// MaxAckPending bounds unacknowledged messages; at least BatchMaxPings,
	// and twice it lets the next batch fill while one is written.
	MaxAckPending int `env:"LOADER_MAX_ACK_PENDING, default=1000"`
	// WriteAttempts is how many times a batch is written before its
	// messages are Nak'ed (LOADER_WRITE_ATTEMPTS). Retrying in-process
	// rewrites the same batch ID, so a partial write is replaced rather than
	// duplicated; 1 Naks at the first failure.
	WriteAttempts int `env:"LOADER_WRITE_ATTEMPTS, default=4"`
	// NakDelayMax caps the growing delays between attempts and before a
	// Nak'ed message is redelivered (LOADER_NAK_DELAY_MAX).
	NakDelayMax time.Duration `env:"LOADER_NAK_DELAY_MAX, default=1m"`
	// ShutdownTimeout bounds the final flush when Run's context ends.
	ShutdownTimeout time.Duration `env:"LOADER_SHUTDOWN_TIMEOUT, default=30s"`
	// DevOpsLeadersInterval is how often the DevOps Score leaders are
	// recomputed from the warehouse (0: never; docs/devops-score.md).
	DevOpsLeadersInterval time.Duration `env:"LOADER_DEVOPS_LEADERS_INTERVAL, default=10m"`
	// LakeCompactInterval is how often the lake's days before yesterday
	// are compacted to one file per table (0: never; `serviceping lake
	// compact` does it by hand; docs/lake.md).
	LakeCompactInterval time.Duration `env:"LOADER_LAKE_COMPACT_INTERVAL, default=0s"`
}

// The values of Config.ClickHouseInsert.
const (
	InsertAuto = "auto"
	InsertRows = "rows"
	InsertLake = "lake"
)

// minAckWait is the shortest AckWait: the pull loop, which keeps the open
// batch alive, turns at least every fetchWait.
const minAckWait = 3 * fetchWait

// legacyMetricsListen is METRICS_LISTEN's name before it was shared by
// every service; it is read until the next release.
const legacyMetricsListen = "LOADER_METRICS_ADDR"

// LoadConfig reads the loader's configuration from lookup (nil: the
// process environment), unset variables taking the defaults of the tags,
// and validates it. LOADER_METRICS_ADDR, renamed METRICS_LISTEN, still
// sets the metrics listener when METRICS_LISTEN is not set; either way its
// use is logged as a warning on log.
func LoadConfig(ctx context.Context, lookup envconfig.Lookuper, log *slog.Logger) (Config, error) {
	if lookup == nil {
		lookup = envconfig.OsLookuper()
	}
	return lifecycle.ReadConfig[Config](ctx, envconfig.LookuperFunc(func(name string) (string, bool) {
		v, ok := lookup.Lookup(name)
		if name != "METRICS_LISTEN" {
			return v, ok
		}
		old, oldOK := lookup.Lookup(legacyMetricsListen)
		switch {
		case !oldOK:
		case ok:
			log.Warn(legacyMetricsListen+" is ignored: it was renamed METRICS_LISTEN, which is set", "metrics_listen", v)
		default:
			log.Warn(legacyMetricsListen+" was renamed METRICS_LISTEN; the old name is read until the next release", "metrics_listen", old)
			return old, true
		}
		return v, ok
	}))
}

// LogValue is the configuration as logged, credentials masked.
func (c Config) LogValue() slog.Value { return redact.Config(c) }

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.NATSURL == "" {
		errs = append(errs, errors.New("NATS_URL is empty"))
	}
	errs = append(errs, c.NATS.Validate())
	switch {
	case c.LakeURL == "":
		errs = append(errs, errors.New("LAKE_URL is empty"))
	case strings.HasPrefix(c.LakeURL, "s3://"):
		if _, _, err := lake.ParseS3URL(c.LakeURL); err != nil {
			errs = append(errs, fmt.Errorf("LAKE_URL: %w", err))
		}
	case strings.Contains(c.LakeURL, "://"):
		errs = append(errs, fmt.Errorf("LAKE_URL %q: want s3://bucket/prefix or a local directory", c.LakeURL))
	}
	if c.S3Endpoint != "" {
		if u, err := url.Parse(c.S3Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("S3_ENDPOINT %q: want http(s)://host[:port]", c.S3Endpoint))
		}
	}
	if c.ClickHouseURL != "" {
		if _, err := chconn.Options(c.ClickHouseURL); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.ClickHouseInsert {
	case "", InsertAuto, InsertRows: // empty: auto
	case InsertLake:
		if strings.HasPrefix(c.LakeURL, "s3://") {
			errs = append(errs, fmt.Errorf("LOADER_CLICKHOUSE_INSERT=lake needs a directory lake that ClickHouse sees at the same path, not %s", c.LakeURL))
		}
	default:
		errs = append(errs, fmt.Errorf("LOADER_CLICKHOUSE_INSERT %q: want auto, rows or lake", c.ClickHouseInsert))
	}
	if c.ClickHouseMaxRowsPerInsert < 1000 {
		errs = append(errs, fmt.Errorf("LOADER_CLICKHOUSE_MAX_ROWS_PER_INSERT %d must be at least 1000", c.ClickHouseMaxRowsPerInsert))
	}
	if c.BatchMaxPings < 1 {
		errs = append(errs, fmt.Errorf("LOADER_BATCH_MAX_PINGS %d must be at least 1", c.BatchMaxPings))
	}
	if c.BatchMaxBytes < 1 {
		errs = append(errs, fmt.Errorf("LOADER_BATCH_MAX_BYTES %d must be at least 1", c.BatchMaxBytes))
	}
	if c.BatchMaxAge <= 0 {
		errs = append(errs, fmt.Errorf("LOADER_BATCH_MAX_AGE %s must be positive", c.BatchMaxAge))
	}
	if c.WriteTimeout <= 0 {
		errs = append(errs, fmt.Errorf("LOADER_WRITE_TIMEOUT %s must be positive", c.WriteTimeout))
	}
	if c.AckWait < minAckWait {
		errs = append(errs, fmt.Errorf("LOADER_ACK_WAIT %s must be at least %s: held messages are kept alive every third of it", c.AckWait, minAckWait))
	}
	if c.MaxAckPending < c.BatchMaxPings {
		errs = append(errs, fmt.Errorf("LOADER_MAX_ACK_PENDING %d must be at least LOADER_BATCH_MAX_PINGS %d", c.MaxAckPending, c.BatchMaxPings))
	}
	if c.WriteAttempts < 1 {
		errs = append(errs, fmt.Errorf("LOADER_WRITE_ATTEMPTS %d must be at least 1", c.WriteAttempts))
	}
	if c.NakDelayMax < time.Second {
		errs = append(errs, fmt.Errorf("LOADER_NAK_DELAY_MAX %s must be at least 1s", c.NakDelayMax))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("LOADER_SHUTDOWN_TIMEOUT %s must be positive", c.ShutdownTimeout))
	}
	if c.DevOpsLeadersInterval < 0 {
		errs = append(errs, fmt.Errorf("LOADER_DEVOPS_LEADERS_INTERVAL %s must not be negative", c.DevOpsLeadersInterval))
	}
	if c.LakeCompactInterval < 0 {
		errs = append(errs, fmt.Errorf("LOADER_LAKE_COMPACT_INTERVAL %s must not be negative", c.LakeCompactInterval))
	}
	return errors.Join(errs...)
}
