package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
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

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	return g.Serve(ctx, ln)
}

// Serve answers the gateway's HTTP API on ln until ctx ends, then drains
// the requests in flight within GATEWAY_SHUTDOWN_TIMEOUT. Each connection
// is bounded: headers within 10s, a whole request within
// GATEWAY_READ_TIMEOUT, its answer within that plus
// GATEWAY_PUBLISH_TIMEOUT and 10s, 64 KiB of headers, 2m idle.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	g.log.Info("gateway listening", "addr", ln.Addr().String(), "config", g.cfg)
	stop := context.AfterFunc(ctx, func() { g.log.Info("gateway shutting down", "timeout", g.cfg.ShutdownTimeout) })
	defer stop()
	return service.HTTPServer{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       g.cfg.ReadTimeout,
		WriteTimeout:      g.cfg.ReadTimeout + g.cfg.PublishTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ShutdownTimeout:   g.cfg.ShutdownTimeout,
		Logger:            g.log,
	}.Serve(ctx, ln, g.handler)
}
