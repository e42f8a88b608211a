package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/streams"
)

// Run is the standalone gateway: it connects to NATS (reconnecting forever),
// makes sure the streams exist, serves HTTP on cfg.Listen until ctx is
// done, then drains in-flight requests within cfg.ShutdownTimeout.
// While NATS is unreachable the gateway keeps serving and answers 503.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, reg *prometheus.Registry) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("gateway config: %w", err)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	nc, err := nats.Connect(cfg.NATSURL,
		nats.Name("serviceping-gateway"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		// Publish fails at once while disconnected instead of queueing.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			logger.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
		}),
	)
	if err != nil {
		return fmt.Errorf("connect to nats %s: %w", cfg.NATSURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	g, err := New(cfg, Deps{JS: js, Conn: nc, Logger: logger, Registerer: reg, Gatherer: reg})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           g.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.ReadTimeout + cfg.PublishTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	ensureCtx, stopEnsure := context.WithCancel(ctx)
	ensured := make(chan struct{})
	go func() {
		defer close(ensured)
		ensureStreams(ensureCtx, js, logger)
	}()
	defer func() { stopEnsure(); <-ensured }()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("gateway listening", "addr", ln.Addr().String(), "nats_url", cfg.NATSURL)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	logger.Info("gateway shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shut down http server: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// ensureStreams creates or updates the streams, retrying with backoff until
// it succeeds or ctx ends; until then /readyz reports not ready.
func ensureStreams(ctx context.Context, js jetstream.JetStream, logger *slog.Logger) {
	backoff := 250 * time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := streams.Ensure(attempt, js, streams.Defaults())
		cancel()
		if err == nil {
			logger.Info("streams ready")
			return
		}
		logger.Warn("ensure streams failed; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 15*time.Second)
	}
}
