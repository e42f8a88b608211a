// Package pipeline runs the receiving side in one process — gateway,
// enricher and loader over an embedded NATS JetStream server — for
// `serviceping run` and for end-to-end tests. Every embedded part gives way
// to a real one through configuration (NATS_URL, LAKE_URL, …).
package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sethvargo/go-envconfig"
	"golang.org/x/sync/errgroup"

	"github.com/serviceping/serviceping/pkg/devopsscore"
	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/natsembed"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/tracing"
	"github.com/serviceping/serviceping/services/enricher/enricher"
	"github.com/serviceping/serviceping/services/gateway/gateway"
	"github.com/serviceping/serviceping/services/loader/loader"
	"github.com/serviceping/serviceping/services/serviceping/internal/warehouse"
)

// Config of the all-in-one pipeline.
type Config struct {
	// DataDir holds the embedded NATS store and the default lake.
	DataDir string
	// HTTPListen is the gateway's address.
	HTTPListen string
	// NATSListen is the embedded NATS server's address (ignored with NATSURL).
	NATSListen string
	// NATSURL, when set, is used instead of embedding a server.
	NATSURL string
	// LakeURL is the lake root; default <DataDir>/lake.
	LakeURL string
	// ClickHouseURL, when set, is the warehouse instead of the embedded
	// engine (CLICKHOUSE_URL).
	ClickHouseURL string
	// ClickHouseListen is the embedded engine's HTTP endpoint address
	// (ignored with ClickHouseURL); its data lives in <DataDir>/clickhouse.
	ClickHouseListen string
	// Warehouse tunes the embedded engine (WAREHOUSE_*), which runs in a
	// child process of its own (warehouse.Supervisor).
	Warehouse warehouse.Config
	// Gateway, Enricher and Loader are the stages' own configurations
	// (LoadStageConfigs); Start sets their connection fields — NATS URL,
	// gateway address, lake, ClickHouse — to the pipeline's. The gateway
	// bounds its HTTP server like the standalone gateway
	// (GATEWAY_READ_TIMEOUT, GATEWAY_SHUTDOWN_TIMEOUT, …).
	Gateway  gateway.Config
	Enricher enricher.Config
	Loader   loader.Config
}

// Pipeline is a running all-in-one.
type Pipeline struct {
	// GatewayURL is the base URL instances post to.
	GatewayURL string
	// NATSURL is the message bus in use.
	NATSURL string
	// LakeURL is where Parquet lands.
	LakeURL string
	// ClickHouseURL is the warehouse the loader writes (CLICKHOUSE_URL form,
	// with the database).
	ClickHouseURL string
	// Embedded is the embedded warehouse's supervisor, nil with
	// Config.ClickHouseURL.
	Embedded *warehouse.Supervisor
	// Registry holds every stage's metrics; Gatherer gathers them with the
	// embedded engine's (what the gateway's /metrics serves).
	Registry *prometheus.Registry
	Gatherer prometheus.Gatherer

	log     *slog.Logger
	srv     *server.Server
	nc      *nats.Conn
	scoreNC *nats.Conn
	gwNC    *nats.Conn
	gw      *gateway.Gateway
	ld      *loader.Loader
	js      jetstream.JetStream
	cancel  context.CancelFunc
	group   *errgroup.Group
	sinks   *loader.Sinks
	whStop  context.CancelFunc
	whDone  chan error
	closing sync.Once
	// shutdownTracing flushes the spans not exported yet.
	shutdownTracing func(context.Context) error
	err             error
}

// Start brings the pipeline up and returns once the gateway accepts
// requests. Stop it with Close (or by cancelling ctx, then Wait).
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Pipeline, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("pipeline: a data directory is required")
	}
	if cfg.LakeURL == "" {
		cfg.LakeURL = filepath.Join(cfg.DataDir, "lake")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	p := &Pipeline{log: log, Registry: lifecycle.NewRegistry(), LakeURL: cfg.LakeURL}
	p.Gatherer = p.Registry
	ok := false
	defer func() {
		if !ok {
			p.shutdownBus()
		}
	}()
	// The engine starts first, beside the bus; the loader waits for it.
	p.ClickHouseURL = cfg.ClickHouseURL
	if p.ClickHouseURL == "" {
		if err := p.startWarehouse(cfg, log); err != nil {
			return nil, err
		}
	}

	p.NATSURL = cfg.NATSURL
	if p.NATSURL == "" {
		srv, err := natsembed.Start(natsembed.Config{Listen: cfg.NATSListen, StoreDir: filepath.Join(cfg.DataDir, "nats")})
		if err != nil {
			return nil, err
		}
		p.srv, p.NATSURL = srv, srv.ClientURL()
	}

	// The stages read the same NATS_CREDS, NATS_TLS_* and STREAM_*.
	nc, js, err := lifecycle.Connect(ctx, p.NATSURL, cfg.Gateway.NATSAuth, "allinone", log)
	if err != nil {
		return nil, err
	}
	p.nc = nc
	if err := lifecycle.EnsureStreams(ctx, js, cfg.Gateway.Streams, log); err != nil {
		return nil, err
	}

	// The gateway reads the DevOps Score state on a connection of its own
	// (small requests that must not queue behind ping publishes).
	snc, sjs, err := lifecycle.Connect(ctx, p.NATSURL, cfg.Gateway.NATSAuth, "allinone-devops-score", log)
	if err != nil {
		return nil, err
	}
	p.scoreNC = snc
	// The gateway publishes on a connection of its own too: on the shared
	// one, its acks would queue behind the enricher's and loader's fetched
	// batches (each message a whole payload), and its publishes would flush
	// their outgoing messages.
	gnc, gjs, err := lifecycle.Connect(ctx, p.NATSURL, cfg.Gateway.NATSAuth, "allinone-gateway", log)
	if err != nil {
		return nil, err
	}
	p.gwNC = gnc
	cfg.Gateway.NATSURL, cfg.Enricher.NATSURL, cfg.Loader.NATSURL = p.NATSURL, p.NATSURL, p.NATSURL
	cfg.Gateway.Listen = cfg.HTTPListen
	// One tracer provider for the three stages: a ping's trace runs from
	// the gateway's request through the enricher to the loader's batch.
	tp, shutdownTracing, err := tracing.NewProvider(ctx, "serviceping")
	if err != nil {
		return nil, err
	}
	p.shutdownTracing = shutdownTracing
	gw, err := gateway.New(cfg.Gateway, gateway.Deps{JS: gjs, Conn: gnc, Logger: log.With("service", "gateway"), Registerer: p.Registry, Gatherer: p.Gatherer, ScoreJS: sjs, Tracer: tp})
	if err != nil {
		return nil, err
	}
	p.gw = gw
	en, err := enricher.New(cfg.Enricher, enricher.Deps{JS: js, Logger: log.With("service", "enricher"), Registerer: p.Registry, Tracer: tp})
	if err != nil {
		return nil, err
	}
	if p.Embedded != nil {
		if err := p.Embedded.Ready(ctx); err != nil {
			return nil, err
		}
	}
	cfg.Loader.LakeURL, cfg.Loader.ClickHouseURL = cfg.LakeURL, p.ClickHouseURL
	if cmp.Or(cfg.Loader.ClickHouseInsert, loader.InsertAuto) == loader.InsertAuto && p.Embedded != nil && !strings.HasPrefix(cfg.LakeURL, "s3://") {
		// The embedded engine sees the lake directory: it reads each batch
		// from the Parquet files the loader has just written.
		cfg.Loader.ClickHouseInsert = loader.InsertLake
	}
	log.With("service", "loader").Info("loader starting", "config", cfg.Loader)
	sinks, err := loader.OpenSinks(ctx, cfg.Loader, log.With("service", "loader"))
	if err != nil {
		return nil, err
	}
	p.sinks = sinks
	ld, err := loader.New(cfg.Loader, sinks.Deps(loader.Deps{JS: js, Logger: log.With("service", "loader"), Registerer: p.Registry, Tracer: tp}))
	if err != nil {
		return nil, err
	}
	p.ld, p.js = ld, js
	ln, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		return nil, fmt.Errorf("listen for the gateway on %s: %w", cfg.HTTPListen, err)
	}
	p.GatewayURL = cfg.Gateway.Scheme() + "://" + ln.Addr().String()

	runCtx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	g, gctx := errgroup.WithContext(runCtx)
	p.group = g
	g.Go(func() error { return gw.Serve(gctx, ln) })
	g.Go(func() error { return en.Run(gctx) })
	g.Go(func() error { return ld.Run(gctx) })
	ok = true
	return p, nil
}

// startWarehouse starts the embedded engine, in a child process on
// <DataDir>/clickhouse, which serves its HTTP endpoint until the pipeline's
// stages have stopped (the loader's last flush still writes to it).
func (p *Pipeline) startWarehouse(cfg Config, log *slog.Logger) error {
	path := filepath.Join(cfg.DataDir, "clickhouse")
	if err := os.MkdirAll(path, 0o755); err != nil {
		return fmt.Errorf("create warehouse directory: %w", err)
	}
	listen := cfg.ClickHouseListen
	if listen == "" {
		listen = "127.0.0.1:8123"
	}
	sup, err := warehouse.NewSupervisor(warehouse.SupervisorConfig{Path: path, Listen: listen, Engine: cfg.Warehouse},
		warehouse.SupervisorDeps{Logger: log.With("service", "warehouse"), Registerer: p.Registry})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.Embedded, p.whStop, p.whDone = sup, cancel, make(chan error, 1)
	go func() { p.whDone <- sup.Run(ctx) }()
	p.ClickHouseURL = cfg.Warehouse.ClientURL(sup.URL, "serviceping")
	p.Gatherer = prometheus.Gatherers{p.Registry, sup.Gatherer()}
	return nil
}

// WaitIdle returns once the enricher and the loader have nothing pending
// (every ping accepted so far is enriched, remembered and loaded), polling
// their consumers, or when ctx ends.
func (p *Pipeline) WaitIdle(ctx context.Context) error {
	for {
		idle := true
		for _, name := range []string{streams.ConsumerEnricher, streams.ConsumerLoader} {
			c, err := p.js.Consumer(ctx, streams.Pings, name)
			if err != nil {
				idle = false
				break
			}
			info, err := c.Info(ctx)
			if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
				idle = false
				break
			}
		}
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the pipeline to catch up: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond): // polling interval
		}
	}
}

// RefreshDevOpsLeaders recomputes the DevOps Score leaders from the
// warehouse now, as the loader does every LOADER_DEVOPS_LEADERS_INTERVAL.
func (p *Pipeline) RefreshDevOpsLeaders(ctx context.Context) (devopsscore.Leaders, error) {
	return p.ld.RefreshLeaders(ctx)
}

// Wait blocks until the pipeline stops (ctx cancelled, Close, or a stage
// failing), then releases the bus. It returns the first stage error.
func (p *Pipeline) Wait() error {
	p.closing.Do(func() {
		p.err = p.group.Wait()
		if errors.Is(p.err, context.Canceled) || errors.Is(p.err, http.ErrServerClosed) {
			p.err = nil
		}
		p.shutdownBus()
	})
	return p.err
}

// Close stops every stage gracefully (the loader flushes its open batch)
// and shuts the embedded server down.
func (p *Pipeline) Close() error {
	p.cancel()
	return p.Wait()
}

func (p *Pipeline) shutdownBus() {
	if p.sinks != nil {
		_ = p.sinks.Close()
	}
	if p.whStop != nil {
		p.whStop()
		if err := <-p.whDone; err != nil {
			p.log.Warn("embedded warehouse stopped with an error", "err", err)
		}
		_ = p.Embedded.Close()
		p.whStop = nil
	}
	if p.gw != nil {
		p.gw.Close()
	}
	if p.scoreNC != nil {
		p.scoreNC.Close()
	}
	for _, nc := range []*nats.Conn{p.gwNC, p.nc} {
		if nc == nil {
			continue
		}
		_ = nc.Drain()
		for nc.IsDraining() {
			time.Sleep(10 * time.Millisecond) // Drain is asynchronous; it ends quickly
		}
	}
	if p.srv != nil {
		p.srv.Shutdown()
		p.srv.WaitForShutdown()
	}
	if p.shutdownTracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := p.shutdownTracing(ctx); err != nil {
			p.log.Warn("flushing trace spans", "err", err)
		}
		cancel()
	}
}

// JetStream opens a JetStream handle on the pipeline's bus (for tests and
// operator commands).
func (p *Pipeline) JetStream() (jetstream.JetStream, error) {
	return jetstream.New(p.nc)
}

// StageConfigs are every stage's configuration.
type StageConfigs struct {
	Gateway   gateway.Config
	Enricher  enricher.Config
	Loader    loader.Config
	Warehouse warehouse.Config
}

// StageDefaults are the stages' configurations with the defaults of their
// tags, as though no variable were set.
func StageDefaults() (StageConfigs, error) {
	var c StageConfigs
	var errs [4]error
	c.Gateway, errs[0] = lifecycle.Defaults[gateway.Config]()
	c.Enricher, errs[1] = lifecycle.Defaults[enricher.Config]()
	c.Loader, errs[2] = lifecycle.Defaults[loader.Config]()
	c.Warehouse, errs[3] = lifecycle.Defaults[warehouse.Config]()
	return c, errors.Join(errs[:]...)
}

// ownVariables are the variables the all-in-one reads itself (the flags of
// serviceping run mirror them) and sets on every stage (Config's
// connection fields): the stages do not read them.
var ownVariables = []string{"NATS_URL", "GATEWAY_LISTEN", "LAKE_URL", "CLICKHOUSE_URL"}

// LoadStageConfigs reads every stage's configuration once, from lookup
// (nil: the process environment), through each stage's LoadConfig: unset
// variables take the defaults of the tags, and every problem of every stage
// is reported at once. The all-in-one's own variables are left to it.
func LoadStageConfigs(ctx context.Context, lookup envconfig.Lookuper) (StageConfigs, error) {
	if lookup == nil {
		lookup = envconfig.OsLookuper()
	}
	stage := envconfig.LookuperFunc(func(name string) (string, bool) {
		if slices.Contains(ownVariables, name) {
			return "", false
		}
		return lookup.Lookup(name)
	})
	var c StageConfigs
	var errs [4]error
	c.Gateway, errs[0] = gateway.LoadConfig(ctx, stage)
	c.Enricher, errs[1] = enricher.LoadConfig(ctx, stage)
	// The all-in-one serves metrics on the gateway: the loader's listener
	// variables, and the warning about the old one, do not apply.
	c.Loader, errs[2] = loader.LoadConfig(ctx, stage, slog.New(slog.DiscardHandler))
	c.Warehouse, errs[3] = warehouse.ReadConfig(ctx, stage)
	return c, errors.Join(errs[:]...)
}
