package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/pkg/redact"
	"github.com/serviceping/serviceping/services/serviceping/internal/client"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipeline"
	"github.com/serviceping/serviceping/services/serviceping/internal/warehouse"
)

type runCmd struct {
	Data             string `env:"SERVICEPING_DATA" default:"./data" placeholder:"DIR" help:"Data directory: NATS store and the default lake."`
	HTTP             string `name:"http" env:"GATEWAY_LISTEN" default:"${gateway_listen}" placeholder:"ADDR" help:"Gateway listen address."`
	NATSListen       string `name:"nats-listen" env:"NATS_LISTEN" default:"127.0.0.1:4223" placeholder:"ADDR" help:"Embedded NATS listen address."`
	NATS             string `name:"nats" env:"NATS_URL" placeholder:"URL" help:"Use this NATS server instead of embedding one."`
	Lake             string `env:"LAKE_URL" placeholder:"URL" help:"Lake root, a directory or s3://bucket/prefix; default <data>/lake."`
	ClickHouse       string `name:"clickhouse" env:"CLICKHOUSE_URL" placeholder:"URL" help:"Use this ClickHouse instead of the embedded engine."`
	ClickHouseListen string `name:"clickhouse-listen" env:"CLICKHOUSE_LISTEN" default:"127.0.0.1:8123" placeholder:"ADDR" help:"Embedded ClickHouse HTTP listen address."`
	chdbLib
	Demo     bool   `default:"true" negatable:"" help:"Load the demo pings from testdata/ at start (once per data directory)."`
	Testdata string `default:"testdata" placeholder:"DIR" help:"The repository's testdata directory, for the demo pings."`
	runDashboard
}

// runVars are the defaults of run's flags that set a stage's variable: the
// stage's own, from its env tags.
func runVars() (map[string]string, error) {
	d, err := pipeline.StageDefaults()
	if err != nil {
		return nil, err
	}
	return map[string]string{"gateway_listen": d.Gateway.Listen}, nil
}

// defaultMemoryLimit is the all-in-one's soft limit on its Go memory
// (Go's GOMEMLIMIT, which overrides it) — the three stages and the embedded
// NATS server; the ClickHouse engine's own bound is
// WAREHOUSE_MAX_SERVER_MEMORY_USAGE. Near it the garbage collector runs
// sooner and JetStream's message-block caches, which it holds weakly, are
// given back; the collector's CPU is capped by the runtime, so a heap that
// needs more grows past it rather than stalls.
const defaultMemoryLimit = 512 << 20

func (c *runCmd) Run(ctx context.Context, e *env) error {
	cfg := pipeline.Config{
		DataDir: c.Data, HTTPListen: c.HTTP, NATSListen: c.NATSListen, NATSURL: c.NATS,
		LakeURL: c.Lake, ClickHouseURL: c.ClickHouse, ClickHouseListen: c.ClickHouseListen,
	}
	if cfg.ClickHouseURL == "" {
		if err := c.use(e); err != nil {
			return err
		}
	}
	stages, err := pipeline.LoadStageConfigs(ctx, nil)
	if err != nil {
		return cli.Usage(err)
	}
	cfg.Gateway, cfg.Enricher, cfg.Loader, cfg.Warehouse = stages.Gateway, stages.Enricher, stages.Loader, stages.Warehouse
	if os.Getenv("GOMEMLIMIT") == "" { // as the runtime reads it: empty is unset
		debug.SetMemoryLimit(defaultMemoryLimit)
		e.log.Info("soft memory limit of the pipeline's Go heap (GOMEMLIMIT unset)", "limit_mib", defaultMemoryLimit>>20)
	}

	p, err := pipeline.Start(ctx, cfg, e.log)
	if err != nil {
		return err
	}
	nats := redact.URL(p.NATSURL)
	if cfg.NATSURL == "" {
		nats += " (embedded)"
	}
	ch := redact.URL(p.ClickHouseURL)
	if p.Embedded != nil {
		ch += " (embedded ClickHouse " + p.Embedded.Version() + ", data in " + filepath.Join(cfg.DataDir, "clickhouse") + ")"
	}
	var ui errgroup.Group
	d, err := c.runDashboard.start(ctx, &ui, e, cfg.HTTPListen, p.ClickHouseURL, p.Gatherer)
	if err != nil {
		return errors.Join(err, p.Close())
	}
	fmt.Fprintf(e.stdout, "serviceping is running\n  gateway     %s  (POST /usage_data, upload form at /usage_data/new, metrics at /metrics)\n  nats        %s\n  lake        %s\n  clickhouse  %s\n",
		p.GatewayURL, nats, p.LakeURL, ch)
	if d != nil {
		fmt.Fprintf(e.stdout, "  dashboard   %s  (marts in %s)\n", d.URL, c.Marts)
	}
	if c.Demo {
		if err := loadDemo(ctx, e, p, cfg.DataDir, c.Testdata); err != nil {
			e.log.Warn("demo pings not loaded", "err", err)
		}
	}
	fmt.Fprintf(e.stdout, "first query to try (pings land within a few seconds):\n  %s\n", FirstQueryCommand(p.ClickHouseURL))
	if d != nil && c.DBTScript != "" {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		if err := p.WaitIdle(wctx); err != nil {
			e.log.Warn("pipeline did not catch up before the marts build", "err", err)
		}
		cancel()
		c.buildMarts(ctx, e, p.ClickHouseURL, cfg.DataDir)
		fmt.Fprintf(e.stdout, "dashboard: %s\n", d.URL)
	}
	fmt.Fprintln(e.stdout, "press Ctrl-C to stop")
	return errors.Join(p.Wait(), ui.Wait())
}

// FirstQueryCommand is the command line running FirstQuery against url.
func FirstQueryCommand(url string) string {
	cmd := "bin/serviceping query"
	if url != chconn.DefaultURL {
		cmd += " --clickhouse " + redact.URL(url)
	}
	return cmd + " \"" + warehouse.FirstQuery + "\""
}

// loadDemo posts the docs example and the generated demo pings through the
// gateway once per data directory, a week at a time as instances would:
// before each later week it waits until the pipeline has remembered and
// loaded the earlier ones and refreshes the DevOps Score leaders, so the
// demo instances get scores (docs/devops-score.md).
func loadDemo(ctx context.Context, e *env, p *pipeline.Pipeline, dataDir, testdata string) error {
	marker := filepath.Join(dataDir, ".demo-loaded")
	if _, err := os.Stat(marker); err == nil {
		fmt.Fprintln(e.stdout, "demo pings were loaded before (remove", marker, "to load them again)")
		return nil
	}
	weeks := make([][]string, client.DemoWeeks)
	weeks[0] = []string{filepath.Join(testdata, "payloads", "docs_example.json")}
	for _, spec := range client.DemoSpecs() {
		weeks[spec.Week] = append(weeks[spec.Week], filepath.Join(testdata, "demo", client.DemoFileName(spec)))
	}
	s := client.Sender{HTTP: &http.Client{Timeout: 30 * time.Second}, GatewayURL: p.GatewayURL}
	var errs []error
	accepted := 0
	for w, files := range weeks {
		if w > 0 {
			wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err := p.WaitIdle(wctx)
			if err == nil {
				_, err = p.RefreshDevOpsLeaders(wctx)
			}
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("before the demo's week %d: %w", w, err))
			}
		}
		for _, f := range files {
			resp, err := s.SendFile(ctx, f)
			if err == nil && resp.Status/100 != 2 {
				err = fmt.Errorf("gateway answered %d: %s", resp.Status, resp.Body)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f, err))
				continue
			}
			accepted++
		}
	}
	fmt.Fprintf(e.stdout, "loaded %d demo pings from %s\n", accepted, testdata)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}
