// Package warehouse runs the embedded ClickHouse engine (chDB) behind its
// ClickHouse-compatible HTTP endpoint: what `serviceping warehouse` serves
// and what `serviceping run` starts on 127.0.0.1:8123. The endpoint's
// limits, concurrency and sessions are tuned by the WAREHOUSE_* variables of
// Config (docs/warehouse-endpoint.md).
package warehouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/chdb"
	"github.com/serviceping/serviceping/pkg/chhttp"
	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/redact"
)

// FirstQuery is the query `serviceping run` suggests to an analyst: the
// largest counters across the latest ping of every instance.
const FirstQuery = "SELECT key_path, count() AS pings, round(avg(value), 1) AS avg_value " +
	"FROM serviceping.ping_metrics_latest WHERE key_path LIKE 'counts.%' " +
	"GROUP BY key_path ORDER BY avg_value DESC LIMIT 10"

// Config tunes the endpoint. Every limit is the default of a statement: a
// request or a session may set its own with the ClickHouse setting of the
// same name. 0 means no limit.
type Config struct {
	// MaxMemoryUsage is max_memory_usage, in bytes.
	MaxMemoryUsage int64 `env:"WAREHOUSE_MAX_MEMORY_USAGE, default=4294967296"`
	// MaxServerMemoryUsage bounds the memory of the whole engine, every
	// statement together (ClickHouse's max_server_memory_usage), in bytes;
	// 0: serverMemoryRatio of the machine's memory.
	MaxServerMemoryUsage int64 `env:"WAREHOUSE_MAX_SERVER_MEMORY_USAGE, default=0"`
	// MaxResultRows and MaxResultBytes are max_result_rows and
	// max_result_bytes of SELECT-like statements.
	MaxResultRows  int64 `env:"WAREHOUSE_MAX_RESULT_ROWS, default=1000000000"`
	MaxResultBytes int64 `env:"WAREHOUSE_MAX_RESULT_BYTES, default=10737418240"`
	// QueryTimeout bounds a request and is the statements'
	// max_execution_time.
	QueryTimeout time.Duration `env:"WAREHOUSE_QUERY_TIMEOUT, default=10m"`
	// MaxReaders and MaxWriters bound the SELECT-like and the other
	// statements running at once.
	MaxReaders int `env:"WAREHOUSE_MAX_READERS, default=8"`
	MaxWriters int `env:"WAREHOUSE_MAX_WRITERS, default=4"`
	// SessionTimeout is the session_timeout of requests that give none,
	// MaxSessionTimeout the largest one allowed, MaxSessions the sessions
	// kept at once.
	SessionTimeout    time.Duration `env:"WAREHOUSE_SESSION_TIMEOUT, default=60s"`
	MaxSessionTimeout time.Duration `env:"WAREHOUSE_MAX_SESSION_TIMEOUT, default=1h"`
	MaxSessions       int           `env:"WAREHOUSE_MAX_SESSIONS, default=256"`
	// Nice is the engine process's CPU niceness in serviceping run
	// (WAREHOUSE_NICE, 0–19): when the machine is busy, the stages that
	// accept and enrich pings get the CPU first and the engine's inserts and
	// merges wait (the stream holds the pings meanwhile); 0 leaves it equal.
	Nice int `env:"WAREHOUSE_NICE, default=10"`
	// User and Password are the writer's credentials: the loader's, dbt's,
	// migrations' (CLICKHOUSE_URL carries them as user:password@). When
	// ReadOnlyUser is set, it and ReadOnlyPassword are a user for analysts
	// and dashboards who may only read (ClickHouse's readonly=1). Any
	// other name or password is refused (code 516). An endpoint listening
	// beyond loopback needs both passwords (CheckListen).
	User             string `env:"WAREHOUSE_USER, default=default"`
	Password         string `env:"WAREHOUSE_PASSWORD" secret:"true"`
	ReadOnlyUser     string `env:"WAREHOUSE_READONLY_USER"`
	ReadOnlyPassword string `env:"WAREHOUSE_READONLY_PASSWORD" secret:"true"`
}

// LogValue masks the passwords (pkg/redact).
func (c Config) LogValue() slog.Value { return redact.Config(c) }

// CheckListen refuses to serve addr, an address beyond loopback, without a
// password for every user: anyone reaching it could read and write the
// warehouse.
func (c Config) CheckListen(addr string) error {
	if lifecycle.IsLoopback(addr) {
		return nil
	}
	var missing []string
	if c.Password == "" {
		missing = append(missing, "WAREHOUSE_PASSWORD")
	}
	if c.ReadOnlyUser != "" && c.ReadOnlyPassword == "" {
		missing = append(missing, "WAREHOUSE_READONLY_PASSWORD")
	}
	if len(missing) > 0 {
		return fmt.Errorf("the embedded ClickHouse endpoint would listen on %s, beyond loopback, without a password: set %s, or listen on 127.0.0.1",
			addr, strings.Join(missing, " and "))
	}
	return nil
}

// ClientURL is the writer's URL of the endpoint at base (http://host:port)
// for database db: with the writer's credentials when they are not
// ClickHouse's default user without a password.
func (c Config) ClientURL(base, db string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base + "/" + db
	}
	if c.User != "default" || c.Password != "" {
		u.User = url.UserPassword(c.User, c.Password)
	}
	u.Path = "/" + db
	return u.String()
}

// LoadConfig reads Config from the environment and validates it.
func LoadConfig(ctx context.Context) (Config, error) { return ReadConfig(ctx, nil) }

// ReadConfig reads Config from lookup (nil: the environment) and validates
// it.
func ReadConfig(ctx context.Context, lookup envconfig.Lookuper) (Config, error) {
	return lifecycle.ReadConfig[Config](ctx, lookup)
}

// Validate names every bad variable.
func (c Config) Validate() error {
	var errs []error
	for name, v := range map[string]int64{
		"WAREHOUSE_MAX_MEMORY_USAGE": c.MaxMemoryUsage, "WAREHOUSE_MAX_SERVER_MEMORY_USAGE": c.MaxServerMemoryUsage,
		"WAREHOUSE_MAX_RESULT_ROWS":  c.MaxResultRows,
		"WAREHOUSE_MAX_RESULT_BYTES": c.MaxResultBytes,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must be 0 (no limit) or more, not %d", name, v))
		}
	}
	for name, v := range map[string]int{
		"WAREHOUSE_MAX_READERS": c.MaxReaders, "WAREHOUSE_MAX_WRITERS": c.MaxWriters, "WAREHOUSE_MAX_SESSIONS": c.MaxSessions,
	} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, not %d", name, v))
		}
	}
	for name, v := range map[string]time.Duration{
		"WAREHOUSE_QUERY_TIMEOUT": c.QueryTimeout, "WAREHOUSE_SESSION_TIMEOUT": c.SessionTimeout,
		"WAREHOUSE_MAX_SESSION_TIMEOUT": c.MaxSessionTimeout,
	} {
		if v < time.Second {
			errs = append(errs, fmt.Errorf("%s must be at least 1s, not %v", name, v))
		}
	}
	if c.Nice < 0 || c.Nice > 19 {
		errs = append(errs, fmt.Errorf("WAREHOUSE_NICE must be 0 to 19, not %d", c.Nice))
	}
	if c.SessionTimeout > c.MaxSessionTimeout {
		errs = append(errs, fmt.Errorf("WAREHOUSE_SESSION_TIMEOUT (%v) exceeds WAREHOUSE_MAX_SESSION_TIMEOUT (%v)", c.SessionTimeout, c.MaxSessionTimeout))
	}
	if c.User == "" {
		errs = append(errs, errors.New("WAREHOUSE_USER must name the writer"))
	}
	if c.ReadOnlyUser != "" && c.ReadOnlyUser == c.User {
		errs = append(errs, fmt.Errorf("WAREHOUSE_READONLY_USER must differ from WAREHOUSE_USER (%s)", c.User))
	}
	return errors.Join(errs...)
}

// serverMemoryRatio is the share of the machine's memory the engine may use
// when WAREHOUSE_MAX_SERVER_MEMORY_USAGE is 0: the rest is left to the
// pipeline beside it and to the system.
const serverMemoryRatio = "0.5"

// engineArgs are the engine's server-level options for c.
func (c Config) engineArgs() []string {
	if c.MaxServerMemoryUsage > 0 {
		return []string{"--max_server_memory_usage=" + strconv.FormatInt(c.MaxServerMemoryUsage, 10)}
	}
	return []string{"--max_server_memory_usage_to_ram_ratio=" + serverMemoryRatio}
}

// options are the endpoint's options for c.
func (c Config) options(log *slog.Logger, reg prometheus.Registerer) chhttp.Options {
	return chhttp.Options{
		Logger: log, Registerer: reg, DisplayName: "serviceping-embedded",
		QueryTimeout: c.QueryTimeout, MaxReaders: c.MaxReaders, MaxWriters: c.MaxWriters,
		SessionTimeout: c.SessionTimeout, MaxSessionTimeout: c.MaxSessionTimeout, MaxSessions: c.MaxSessions,
		Limits: map[string]string{
			"max_memory_usage": strconv.FormatInt(c.MaxMemoryUsage, 10),
			"max_result_rows":  strconv.FormatInt(c.MaxResultRows, 10),
			"max_result_bytes": strconv.FormatInt(c.MaxResultBytes, 10),
		},
		Users: c.users(),
	}
}

// users are the endpoint's users: the writer, and the read-only user when
// one is named.
func (c Config) users() []chhttp.User {
	users := []chhttp.User{{Name: c.User, Password: c.Password}}
	if c.ReadOnlyUser != "" {
		users = append(users, chhttp.User{Name: c.ReadOnlyUser, Password: c.ReadOnlyPassword, ReadOnly: true})
	}
	return users
}

// Server is an embedded engine with its HTTP endpoint listening.
type Server struct {
	// URL is the endpoint's base URL (http://host:port).
	URL    string
	engine *chdb.Engine
	ln     net.Listener
	h      *chhttp.Handler
}

// Open loads libchdb.so (CHDB_LIB, or scripts/fetch-chdb.sh's cache) with a
// persistent data path and listens on addr, configured by the WAREHOUSE_*
// variables (LoadConfig).
func Open(path, addr string, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg, err := LoadConfig(context.Background())
	if err != nil {
		return nil, fmt.Errorf("warehouse configuration: %w", err)
	}
	return OpenConfig(cfg, path, addr, log, reg)
}

// OpenConfig is Open with the configuration given.
func OpenConfig(cfg Config, path, addr string, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if err := errors.Join(cfg.Validate(), cfg.CheckListen(addr)); err != nil {
		return nil, fmt.Errorf("warehouse configuration: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for ClickHouse HTTP on %s: %w", addr, err)
	}
	s, err := openOn(cfg, path, ln, log, reg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return s, nil
}

// openOn opens the engine on path behind an endpoint that will serve ln.
func openOn(cfg Config, path string, ln net.Listener, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	lib, err := chdb.LibPath()
	if err != nil {
		return nil, err
	}
	engine, err := chdb.Open(lib, path, chdb.WithArgs(cfg.engineArgs()...))
	if err != nil {
		return nil, fmt.Errorf("open embedded ClickHouse at %s: %w", path, err)
	}
	h, err := chhttp.New(engine, cfg.options(log, reg))
	if err != nil {
		engine.Close()
		return nil, err
	}
	return &Server{URL: "http://" + ln.Addr().String(), engine: engine, ln: ln, h: h}, nil
}

// Version is the engine's ClickHouse version.
func (s *Server) Version() string { return s.engine.Version() }

// Serve answers requests until ctx ends, then closes the endpoint's
// sessions and the engine.
func (s *Server) Serve(ctx context.Context) error {
	defer s.engine.Close()
	defer s.h.Close()
	return lifecycle.HTTPServer{ShutdownTimeout: lifecycle.DefaultShutdownTimeout}.Serve(ctx, s.ln, s.h)
}
