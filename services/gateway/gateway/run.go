package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/service"
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
	nc, js, err := service.Connect(ctx, cfg.NATSURL, "gateway", logger)
	if err != nil {
		return err
	}
	defer nc.Close()
	deps := Deps{JS: js, Conn: nc, Logger: logger, Registerer: reg, Gatherer: reg}
	if cfg.DevOpsScore {
		snc, sjs, err := service.Connect(ctx, cfg.NATSURL, "gateway-devops-score", logger)
		if err != nil {
			return err
		}
		defer snc.Close()
		deps.ScoreJS = sjs
	}
	g, err := New(cfg, deps)
	if err != nil {
		return err
	}
	defer g.Close()

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
		// Until the streams exist /readyz reports not ready and pings get 503.
		defer close(ensured)
		if err := service.EnsureStreams(ensureCtx, js, streams.Defaults(), logger); err == nil {
			logger.Info("streams ready")
		}
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
