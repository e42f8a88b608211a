package main

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/serviceping/serviceping/pkg/redact"
	"github.com/serviceping/serviceping/services/serviceping/internal/dashboard"
)

// dashboardFlags are the built-in dashboard's settings, shared by run and
// ui.
type dashboardFlags struct {
	Marts    string `name:"marts" env:"DBT_CLICKHOUSE_SCHEMA" default:"serviceping_analytics" placeholder:"DB" help:"Database holding the dbt marts the dashboard reads (make dbt builds them there)."`
	UIAssets string `name:"ui-assets" env:"UI_ASSETS" placeholder:"DIR" help:"Directory holding the chart library (echarts.min.js); default: where make ui-assets cached it."`
}

// open starts a dashboard on listen over the warehouse at chURL.
func (f dashboardFlags) open(ctx context.Context, e *env, listen, chURL string, metrics prometheus.Gatherer) (*dashboard.Dashboard, error) {
	return dashboard.New(ctx, dashboard.Config{
		Listen: listen, ClickHouseURL: chURL, MartsDatabase: f.Marts, AssetsDir: findUIAssets(f.UIAssets, os.Getenv),
	}, dashboard.Deps{Logger: e.log.With("service", "dashboard"), Metrics: metrics})
}

type uiCmd struct {
	Listen string `env:"UI_LISTEN" default:"127.0.0.1:8081" placeholder:"ADDR" help:"Dashboard listen address."`
	warehouseURL
	dashboardFlags
	Metrics []string `name:"metrics" env:"UI_METRICS_URLS" placeholder:"URL,…" help:"The services' /metrics URLs, for the pipeline-health page's live counters (e.g. the gateway's and the loader's)."`
}

func (c *uiCmd) Run(ctx context.Context, e *env) error {
	var metrics prometheus.Gatherer
	if len(c.Metrics) > 0 {
		metrics = dashboard.Scrape{URLs: c.Metrics}
	}
	d, err := c.open(ctx, e, c.Listen, c.ClickHouse, metrics)
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintf(e.stdout, "dashboard on %s (marts in %s on %s)\npress Ctrl-C to stop\n", d.URL, c.Marts, redact.URL(c.ClickHouse))
	return d.Run(ctx)
}

// runDashboard is what `serviceping run` adds for the dashboard: its
// listener and the marts it builds once the demo pings are in.
type runDashboard struct {
	UI string `name:"ui" env:"UI_LISTEN" default:"127.0.0.1:8081" placeholder:"ADDR" help:"Dashboard listen address, never the gateway's; '' turns the dashboard off."`
	dashboardFlags
	DBTScript string `name:"dbt-script" env:"SERVICEPING_DBT_SCRIPT" default:"scripts/dbt.sh" placeholder:"FILE" help:"Script building the marts at start (after the demo pings); '' builds none (run make dbt yourself)."`
}

// start serves the dashboard on the group until ctx ends; nil when it is
// turned off.
func (r runDashboard) start(ctx context.Context, g *errgroup.Group, e *env, gatewayListen, chURL string, metrics prometheus.Gatherer) (*dashboard.Dashboard, error) {
	if r.UI == "" {
		return nil, nil
	}
	if sameAddress(r.UI, gatewayListen) {
		return nil, fmt.Errorf("--ui %s is the gateway's address: the dashboard needs a listener of its own", r.UI)
	}
	d, err := r.open(ctx, e, r.UI, chURL, metrics)
	if err != nil {
		return nil, err
	}
	g.Go(func() error {
		defer d.Close()
		return d.Run(ctx)
	})
	return d, nil
}

// buildMarts builds the marts with dbt on the warehouse at chURL, saying
// what it did; dataDir keeps dbt's target/ and logs/.
func (r runDashboard) buildMarts(ctx context.Context, e *env, chURL, dataDir string) {
	m := dashboard.Marts{Script: r.DBTScript, ClickHouseURL: chURL, Database: r.Marts, WorkDir: filepath.Join(dataDir, "dbt")}
	if err := m.Available(); err != nil {
		fmt.Fprintf(e.stdout, "marts not built (%v): run make dbt, then reload the dashboard\n", err)
		return
	}
	fmt.Fprintf(e.stdout, "building the marts with dbt (%s build into %s; the dashboard's pages fill when it is done)\n", r.DBTScript, r.Marts)
	if err := m.Build(ctx, e.log.With("service", "dbt")); err != nil {
		e.log.Warn("dbt build failed: the dashboard shows what it built; run make dbt to retry", "err", err)
		fmt.Fprintln(e.stdout, "dbt build failed (see the log): run make dbt to retry")
		return
	}
	fmt.Fprintln(e.stdout, "marts built: the dashboard's charts are ready")
}

// sameAddress says whether two listen addresses name one port on one host
// (an empty host or 0.0.0.0 stands for every host).
func sameAddress(a, b string) bool {
	ah, ap, errA := splitHostPort(a)
	bh, bp, errB := splitHostPort(b)
	if errA != nil || errB != nil || ap != bp || ap == "0" {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ah == bh || wildcard(ah) || wildcard(bh)
}

func splitHostPort(addr string) (host, port string, err error) {
	u, err := url.Parse("//" + addr)
	if err != nil {
		return "", "", err
	}
	return strings.Trim(u.Hostname(), "[]"), u.Port(), nil
}

// findUIAssets is the directory holding the chart library, looked up as
// scripts/fetch-ui-assets.sh keeps it: dir (UI_ASSETS) when it holds the
// library, else <cache>/ui/echarts/<ECHARTS_VERSION>. A directory without
// it is returned all the same: the dashboard then says `make ui-assets`
// fetches it.
func findUIAssets(dir string, getenv func(string) string) string {
	if dir != "" && isFile(filepath.Join(dir, dashboard.ChartLibrary)) {
		return dir
	}
	return filepath.Join(cacheRoot(getenv), "ui", "echarts", cmp.Or(getenv("ECHARTS_VERSION"), dashboard.ECharts))
}
