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
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sethvargo/go-envconfig"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/serviceping/serviceping/pkg/metric"
	"github.com/serviceping/serviceping/pkg/redact"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/tracing"
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

// NATS is how a stage reaches JetStream, from the same variables in every
// stage: the servers, the connection's credentials and TLS, and the
// settings of the streams it creates. The gateway's, the enricher's and the
// loader's configurations embed it, and so does Run's Options.
type NATS struct {
	// NATSURL is the NATS server (NATS_URL), or the comma-separated
	// servers of a cluster.
	NATSURL string `env:"NATS_URL, default=nats://127.0.0.1:4222"`
	// NATSAuth are the connection's credentials and TLS (NATS_CREDS,
	// NATS_TLS_*).
	NATSAuth NATSAuth
	// Streams are the settings of the streams the stage creates
	// (STREAM_*).
	Streams streams.Options
}

// Validate reports what is wrong with the credentials, the TLS files and
// the stream settings, all at once.
func (n NATS) Validate() error {
	return errors.Join(n.NATSAuth.Validate(), n.Streams.Validate())
}

// NATSAuth is how a process proves itself to NATS and checks the server,
// beside NATS_URL (one server, or the comma-separated servers of a
// cluster): a credentials file and TLS. Every service that connects reads
// it from the environment; unset, the connection is plain and anonymous.
type NATSAuth struct {
	// Creds is a credentials file (a user JWT and its NKey seed), for a
	// server in operator mode.
	Creds string `env:"NATS_CREDS"`
	// TLSCA is a PEM file of the CA certificates that verify the server
	// (setting it turns TLS on); empty: the system's roots, when the
	// server asks for TLS or the URL is tls://.
	TLSCA string `env:"NATS_TLS_CA"`
	// TLSCert and TLSKey are the client certificate and its key (PEM
	// files), for a server that verifies its clients.
	TLSCert string `env:"NATS_TLS_CERT"`
	TLSKey  string `env:"NATS_TLS_KEY"`
}

// Validate reports a certificate without its key (or the reverse) and a
// file that cannot be read.
func (a NATSAuth) Validate() error {
	var errs []error
	if (a.TLSCert == "") != (a.TLSKey == "") {
		errs = append(errs, errors.New("NATS_TLS_CERT and NATS_TLS_KEY must be set together"))
	}
	for _, f := range []struct{ name, path string }{
		{"NATS_CREDS", a.Creds}, {"NATS_TLS_CA", a.TLSCA}, {"NATS_TLS_CERT", a.TLSCert}, {"NATS_TLS_KEY", a.TLSKey},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	return errors.Join(errs...)
}

// options are the nats.go options of a.
func (a NATSAuth) options() []nats.Option {
	var opts []nats.Option
	if a.Creds != "" {
		opts = append(opts, nats.UserCredentials(a.Creds))
	}
	if a.TLSCA != "" {
		opts = append(opts, nats.RootCAs(a.TLSCA))
	}
	if a.TLSCert != "" {
		opts = append(opts, nats.ClientCert(a.TLSCert, a.TLSKey))
	}
	return opts
}

// Connect dials NATS at url (one server or a comma-separated list, which
// the client also learns the rest of a cluster from) with auth and
// unlimited reconnects, so a restart of the server, or the loss of one node
// of a cluster, is survived; it returns the connection and its JetStream
// handle.
func Connect(ctx context.Context, url string, auth NATSAuth, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	opts := append([]nats.Option{
		nats.Name("serviceping-" + name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
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
	}, auth.options()...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS at %s: %w", redact.URL(url), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("open JetStream: %w", err)
	}
	return nc, js, nil
}

// EnsureStreams creates or brings up to date the streams
// (streams.EnsureWithLog, which logs on log what it keeps of an operator's
// settings), retrying while JetStream is not reachable yet (a service may
// start before its server) until ctx ends; replicas a server that is not
// clustered cannot hold (streams.ErrNotClustered) fail at once.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o streams.Options, log *slog.Logger) error {
	delay := 250 * time.Millisecond
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := streams.EnsureWithLog(attemptCtx, js, o, log)
		cancel()
		if err == nil || errors.Is(err, streams.ErrNotClustered) {
			return err
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

// Register is metric.Register, kept for the callers that have not moved
// to it (or to a metric.Set).
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	return metric.Register(reg, cs...)
}

// Options of Run.
type Options struct {
	Name string
	// NATS is the connection and the streams Run ensures.
	NATS
	MetricsListen string
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
	// Ready is what /readyz of the metrics listener answers: Run adds the
	// "nats" check; the body adds its own dependencies.
	Ready *Readiness
	// Tracer is the service's tracer provider (pkg/tracing): exporting
	// when OTEL_EXPORTER_OTLP_ENDPOINT is set, else a no-op one.
	Tracer trace.TracerProvider
}

// Run connects, ensures the streams, serves metrics and runs body until
// body returns (a stage's Run does when ctx ends) or anything fails; then
// it drains the NATS connection. With PPROF=true in the environment the
// metrics listener serves Go's profiles too (Profiles).
func Run(ctx context.Context, o Options, body func(context.Context, Deps) error) error {
	log := o.Logger
	prof, err := ReadConfig[Profiling](ctx, nil)
	if err != nil {
		return err
	}
	nc, js, err := Connect(ctx, o.NATSURL, o.NATSAuth, o.Name, log)
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
	ready := NewReadiness()
	ready.Add("nats", NATSCheck(nc, js))
	tp, shutdownTracing, err := tracing.NewProvider(ctx, o.Name)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(sctx); err != nil {
			log.Warn("flushing trace spans", "err", err)
		}
	}()
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
		log.Info("serving metrics", "addr", ln.Addr().String(), "pprof", prof.PPROF)
		srv := SmallHTTP(log)
		srv.ShutdownTimeout = o.ShutdownTimeout
		if prof.PPROF {
			srv.WriteTimeout = ProfileWriteTimeout
		}
		g.Go(func() error { return srv.Serve(ctx, ln, Profiles(MetricsHandler(reg, ready), prof.PPROF)) })
	}
	g.Go(func() error {
		defer stop() // the body is done: so is everything beside it
		return body(ctx, Deps{Conn: nc, JS: js, Registry: reg, Ready: ready, Tracer: tp})
	})
	return g.Wait()
}

// NATSCheck is a readiness check of a NATS connection and its JetStream.
func NATSCheck(nc *nats.Conn, js jetstream.JetStream) func(context.Context) error {
	return func(ctx context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("nats is %s", strings.ToLower(nc.Status().String()))
		}
		if _, err := js.AccountInfo(ctx); err != nil {
			return fmt.Errorf("jetstream: %w", err)
		}
		return nil
	}
}

// MetricsHandler serves /metrics from reg, /healthz (the process is alive)
// and /readyz from ready (nil: always ready).
func MetricsHandler(reg *prometheus.Registry, ready *Readiness) http.Handler {
	if ready == nil {
		ready = NewReadiness()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.Handle("GET /readyz", ready)
	return mux
}
