// Package dashboard is the built-in dashboard of `serviceping run` and
// `serviceping ui`: HTML pages drawing Apache ECharts charts from JSON
// endpoints that read the dbt marts (docs/dashboard.md). The chart library
// is not embedded: it is served from a directory of the cache
// (scripts/fetch-ui-assets.sh, make ui-assets), so the pages work offline;
// when it is missing every page says which make target fetches it.
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/chconn"
)

// ChartLibrary is the file of the assets directory the pages load.
const ChartLibrary = "echarts.min.js"

// ECharts is the version of the npm package echarts that
// scripts/fetch-ui-assets.sh pins (ECHARTS_VERSION overrides both); a test
// keeps the two equal.
const ECharts = "6.1.0"

// AssetsTarget is the make target that fetches the chart library.
const AssetsTarget = "make ui-assets"

// MartsMissing is what the endpoints answer (HTTP 503) and the pages show
// while the marts are not built.
const MartsMissing = "marts not built yet — run make dbt"

// Config of a dashboard.
type Config struct {
	// Listen is the address of the dashboard's own listener.
	Listen string
	// ClickHouseURL is the warehouse (CLICKHOUSE_URL form); the marts are
	// read from MartsDatabase on the same server.
	ClickHouseURL string
	// MartsDatabase is where `make dbt` built the models
	// (DBT_CLICKHOUSE_SCHEMA, default serviceping_analytics).
	MartsDatabase string
	// AssetsDir holds ChartLibrary; when it does not, the pages and the log
	// say that AssetsTarget fetches it.
	AssetsDir string
}

// Deps are the dashboard's collaborators.
type Deps struct {
	Logger *slog.Logger
	// Metrics, when set, gives the pipeline-health page its live figures
	// (accepted and rejected requests, dead letters, ping→queryable lag):
	// the all-in-one's registry, or Scrape of the services' /metrics.
	Metrics prometheus.Gatherer
}

// Dashboard serves the pages and their JSON endpoints on its listener.
type Dashboard struct {
	// URL is the dashboard's base URL (http://host:port).
	URL string

	cfg     Config
	log     *slog.Logger
	metrics prometheus.Gatherer
	conn    driver.Conn
	ln      net.Listener
	srv     *http.Server
	pages   *template.Template
	assets  bool
	close   sync.Once
}

//go:embed web
var web embed.FS

// New opens the warehouse connection and the listener; Run serves.
func New(ctx context.Context, cfg Config, deps Deps) (*Dashboard, error) {
	if cfg.MartsDatabase == "" {
		return nil, errors.New("dashboard: the marts database is required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pages, err := template.ParseFS(web, "web/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse dashboard templates: %w", err)
	}
	d := &Dashboard{cfg: cfg, log: log, metrics: deps.Metrics, pages: pages}
	d.assets = isFile(filepath.Join(cfg.AssetsDir, ChartLibrary))
	if !d.assets {
		log.Warn("the dashboard's chart library is missing: pages show no charts; run "+AssetsTarget+" to fetch it",
			"file", filepath.Join(cfg.AssetsDir, ChartLibrary))
	}
	conn, err := chconn.Open(ctx, cfg.ClickHouseURL)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	d.conn = conn
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("listen for the dashboard on %s: %w", cfg.Listen, err)
	}
	d.ln, d.URL = ln, "http://"+ln.Addr().String()
	d.srv = &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return d, nil
}

// Run serves until ctx ends, then shuts the server down gracefully.
func (d *Dashboard) Run(ctx context.Context) error {
	d.log.Info("dashboard serving", "url", d.URL, "marts", d.cfg.MartsDatabase)
	errc := make(chan error, 1)
	go func() { errc <- d.srv.Serve(d.ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve the dashboard: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut the dashboard down: %w", err)
	}
	return nil
}

// Close stops serving at once and releases the warehouse connection; it
// is idempotent and works without Run.
func (d *Dashboard) Close() error {
	var err error
	d.close.Do(func() {
		err = errors.Join(d.srv.Close(), d.conn.Close())
	})
	return err
}

// Handler is every page and endpoint.
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, p := range Pages() {
		mux.HandleFunc("GET "+p.Path, d.page(p))
	}
	mux.HandleFunc("GET /{$}", d.index)
	static, _ := fs.Sub(web, "web") // a directory of the embedded tree
	mux.Handle("GET /static/", http.FileServerFS(static))
	mux.HandleFunc("GET /assets/"+ChartLibrary, d.chartLibrary)
	mux.HandleFunc("GET /api/adoption", d.api(d.adoption))
	mux.HandleFunc("GET /api/stages", d.api(d.stages))
	mux.HandleFunc("GET /api/devops-score", d.api(d.devopsScore))
	mux.HandleFunc("GET /api/devops-score/instance", d.api(d.devopsInstance))
	mux.HandleFunc("GET /api/licenses", d.api(d.licenses))
	mux.HandleFunc("GET /api/health", d.api(d.health))
	return mux
}

// chartLibrary serves ChartLibrary from the assets directory, or a script
// that says it is missing.
func (d *Dashboard) chartLibrary(w http.ResponseWriter, r *http.Request) {
	path := filepath.Join(d.cfg.AssetsDir, ChartLibrary)
	if !isFile(path) {
		http.Error(w, "chart library missing: run "+AssetsTarget, http.StatusNotFound)
		return
	}
	w.Header().Set("Cache-Control", "max-age=3600")
	http.ServeFile(w, r, path)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
