// Package warehouse runs the embedded ClickHouse engine (chDB) behind its
// ClickHouse-compatible HTTP endpoint: what `serviceping warehouse` serves
// and what `serviceping run` starts on 127.0.0.1:8123.
package warehouse

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/chdb"
	"github.com/serviceping/serviceping/pkg/chhttp"
	"github.com/serviceping/serviceping/pkg/service"
)

// FirstQuery is the query `serviceping run` suggests to an analyst: the
// largest counters across the latest ping of every instance.
const FirstQuery = "SELECT key_path, count() AS pings, round(avg(value), 1) AS avg_value " +
	"FROM serviceping.ping_metrics_latest WHERE key_path LIKE 'counts.%' " +
	"GROUP BY key_path ORDER BY avg_value DESC LIMIT 10"

// Server is an embedded engine with its HTTP endpoint listening.
type Server struct {
	// URL is the endpoint's base URL (http://host:port).
	URL    string
	engine *chdb.Engine
	ln     net.Listener
	h      *chhttp.Handler
}

// Open loads libchdb.so (CHDB_LIB, or scripts/fetch-chdb.sh's cache) with a
// persistent data path and listens on addr.
func Open(path, addr string, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	lib, err := chdb.LibPath()
	if err != nil {
		return nil, err
	}
	engine, err := chdb.Open(lib, path)
	if err != nil {
		return nil, fmt.Errorf("open embedded ClickHouse at %s: %w", path, err)
	}
	h, err := chhttp.New(engine, chhttp.Options{Logger: log, Registerer: reg, DisplayName: "serviceping-embedded"})
	if err != nil {
		engine.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		engine.Close()
		return nil, fmt.Errorf("listen for ClickHouse HTTP on %s: %w", addr, err)
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
	return service.Serve(ctx, s.ln, s.h, service.DefaultShutdownTimeout)
}
