package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/lifecycle"
)

// Run is the standalone gateway: a NATS connection that reconnects
// forever, the streams ensured beside the server (until they exist
// /readyz reports not ready and pings get 503), a second connection for
// the DevOps Score's reads, then New and Gateway.Run until ctx ends.
// reg receives the metrics served on /metrics (nil: a fresh registry).
func Run(ctx context.Context, cfg Config, logger *slog.Logger, reg *prometheus.Registry) error {
	return lifecycle.Run(ctx, lifecycle.Options{
		Name: "gateway", NATS: cfg.NATS, StreamsInBackground: true,
		Logger: logger, Registry: reg,
	}, func(ctx context.Context, d lifecycle.Deps) error {
		deps := Deps{JS: d.JS, Conn: d.Conn, Logger: logger, Registerer: d.Registry, Gatherer: d.Registry, Tracer: d.Tracer}
		if cfg.DevOpsScore {
			snc, sjs, err := lifecycle.Connect(ctx, cfg.NATSURL, cfg.NATSAuth, "gateway-devops-score", logger)
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
		return g.Run(ctx)
	})
}

// Run serves the gateway on GATEWAY_LISTEN until ctx ends (Serve).
func (g *Gateway) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", g.cfg.Listen, err)
	}
	return g.Serve(ctx, ln)
}

// Serve answers the gateway's HTTP API on ln until ctx ends, then drains
// the requests in flight within GATEWAY_SHUTDOWN_TIMEOUT. Each connection
// is bounded: headers within 10s, a whole request within
// GATEWAY_READ_TIMEOUT, its answer within that plus
// GATEWAY_PUBLISH_TIMEOUT and 10s, 64 KiB of headers, 2m idle. With
// GATEWAY_TLS_CERT and GATEWAY_TLS_KEY it answers HTTPS only (HTTP/2 and
// HTTP/1.1).
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	g.log.Info("gateway listening", "addr", ln.Addr().String(), "scheme", g.cfg.Scheme(), "config", g.cfg)
	stop := context.AfterFunc(ctx, func() { g.log.Info("gateway shutting down", "timeout", g.cfg.ShutdownTimeout) })
	defer stop()
	return lifecycle.HTTPServer{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       g.cfg.ReadTimeout,
		WriteTimeout:      g.cfg.ReadTimeout + g.cfg.PublishTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ShutdownTimeout:   g.cfg.ShutdownTimeout,
		Logger:            g.log,
		TLS:               g.tls,
	}.Serve(ctx, ln, g.handler)
}
