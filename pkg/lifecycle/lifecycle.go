// Package lifecycle is the process lifecycle every serviceping binary shares:
// a leveled slog logger, configuration from the environment (defaults in
// the env tags only), a NATS connection that reconnects forever, the
// streams ensured at start, a /metrics + /healthz listener on a fresh
// registry, HTTP servers with bounded connections and a graceful drain,
// and a supervised group whose first failure stops the rest.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sethvargo/go-envconfig"
	"golang.org/x/sync/errgroup"

	"github.com/serviceping/serviceping/pkg/streams"
)

// NewLogger returns a logger writing to w at level ("debug", "info",
// "warn", "error"; empty: info) in format ("json" or "text"; empty: json).
// A value it does not know is an error, so a typo fails at start.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if level != "" {
		if err := lvl.UnmarshalText([]byte(strings.TrimSpace(level))); err != nil {
			return nil, fmt.Errorf("LOG_LEVEL %q: %w", level, err)
		}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "", "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("LOG_FORMAT %q: want json or text", format)
	}
}

// ReadConfig reads a C, a struct with github.com/sethvargo/go-envconfig
// `env:"NAME, default=VALUE"` tags, from lookup (nil: the process
// environment), and validates it when C has a Validate method. A variable
// that is not set takes the default in its tag: the tags are the one place
// defaults are written.
func ReadConfig[C any](ctx context.Context, lookup envconfig.Lookuper) (C, error) {
	var c, zero C
	if err := fill(ctx, &c, lookup); err != nil {
		return zero, err
	}
	if v, ok := any(&c).(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return zero, fmt.Errorf("invalid configuration: %w", err)
		}
	}
	return c, nil
}

// Defaults is a C with the defaults of its tags, as though no variable
// were set, not validated: the configuration tests and code start from.
func Defaults[C any]() (C, error) {
	var c C
	err := fill(context.Background(), &c, envconfig.MapLookuper(nil))
	return c, err
}

// LoadConfig fills cfg, a pointer to an env-tagged struct, from the
// process environment: ReadConfig for a type not known at compile time,
// without validation.
func LoadConfig(ctx context.Context, cfg any) error { return fill(ctx, cfg, nil) }

func fill(ctx context.Context, cfg any, lookup envconfig.Lookuper) error {
	if lookup == nil {
		lookup = envconfig.OsLookuper()
	}
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: cfg, Lookuper: lookup}); err != nil {
		return fmt.Errorf("read configuration from the environment: %w", err)
	}
	return nil
}

// Connect dials NATS with unlimited reconnects, so a restart of the server
// is survived, and returns the connection and its JetStream handle.
func Connect(ctx context.Context, url, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url,
		nats.Name("serviceping-"+name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		// While disconnected a publish fails at once instead of queueing in
		// a client buffer, so callers answer 503 or Nak rather than hang.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own Close or Drain
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("open JetStream: %w", err)
	}
	return nc, js, nil
}

// EnsureStreams creates or updates the streams, retrying while JetStream is
// not reachable yet (a service may start before its server) until ctx ends.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o streams.Options, log *slog.Logger) error {
	delay := 250 * time.Millisecond
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := streams.Ensure(attemptCtx, js, o)
		cancel()
		if err == nil {
			return nil
		}
		log.Warn("waiting for JetStream", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return fmt.Errorf("ensure streams: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Options of Run.
type Options struct {
	Name          string
	NATSURL       string
	MetricsListen string
	Streams       streams.Options
	// StreamsInBackground ensures the streams beside the body instead of
	// before it: the body starts at once and must cope with streams that do
	// not exist yet (the gateway serves and answers 503 until they do).
	StreamsInBackground bool
	Logger              *slog.Logger
	// Registry receives the process's metrics; nil: NewRegistry().
	Registry *prometheus.Registry
	// ShutdownTimeout bounds the graceful stop of the metrics server
	// (0: DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
}

// Deps are handed to the service body.
type Deps struct {
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Registry *prometheus.Registry
}

// Run connects, ensures the streams, serves metrics and runs body until
// body returns (a stage's Run does when ctx ends) or anything fails; then
// it drains the NATS connection.
func Run(ctx context.Context, o Options, body func(context.Context, Deps) error) error {
	log := o.Logger
	nc, js, err := Connect(ctx, o.NATSURL, o.Name, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			log.Warn("draining nats connection", "err", err)
		}
	}()
	reg := o.Registry
	if reg == nil {
		reg = NewRegistry()
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	g, ctx := errgroup.WithContext(ctx)
	if o.StreamsInBackground {
		g.Go(func() error {
			if err := EnsureStreams(ctx, js, o.Streams, log); err == nil {
				log.Info("streams ready")
			}
			return nil // not yet ready is the body's to answer
		})
	} else if err := EnsureStreams(ctx, js, o.Streams, log); err != nil {
		return err
	}
	if o.MetricsListen != "" {
		ln, err := net.Listen("tcp", o.MetricsListen)
		if err != nil {
			stop()
			_ = g.Wait()
			return fmt.Errorf("listen for metrics on %s: %w", o.MetricsListen, err)
		}
		log.Info("serving metrics", "addr", ln.Addr().String())
		srv := SmallHTTP(log)
		srv.ShutdownTimeout = o.ShutdownTimeout
		g.Go(func() error { return srv.Serve(ctx, ln, MetricsHandler(reg)) })
	}
	g.Go(func() error {
		defer stop() // the body is done: so is everything beside it
		return body(ctx, Deps{Conn: nc, JS: js, Registry: reg})
	})
	return g.Wait()
}

// MetricsHandler serves /metrics from reg and a trivial /healthz.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return mux
}
