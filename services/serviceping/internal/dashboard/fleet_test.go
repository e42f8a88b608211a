package dashboard_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/loader/warehouse"
	"github.com/serviceping/serviceping/services/serviceping/internal/dashboard"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// repoRoot is the repository's root directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// fleetDir holds the loader's hand-written fleet (fleet.sql and its CSV
// files): six installations whose every figure is small enough to compute
// by hand, which the dbt fleet tests use too.
func fleetDir() string {
	return filepath.Join(repoRoot(), "services", "loader", "internal", "dbttest", "testdata", "fleet")
}

// fleet is the warehouse every test of the package reads, built once: the
// fleet in a source database and the marts dbt built from it.
var fleet struct {
	once              sync.Once
	srcURL, martsDB   string
	builtDay, doneDay string
	err               error
}

// fleetMarts loads the fleet into a fresh database of the package's
// embedded ClickHouse (after the loader's migrations), builds the marts
// from it with scripts/dbt.sh — what `make dbt` and `serviceping run` run —
// and returns the source database's URL and the marts database.
func fleetMarts(t testing.TB) (srcURL, martsDB string) {
	t.Helper()
	testinfra.Env(t, "SERVICEPING_DBT")
	chtest.Endpoint(t)
	fleet.once.Do(func() {
		src := chtest.Database(t, "dash_src")
		fleet.srcURL, fleet.martsDB = chtest.URL(t, src), chtest.Database(t, "dash_marts")
		fleet.builtDay = time.Now().UTC().Format(time.DateOnly)
		fleet.err = buildFleet(fleet.srcURL, src, fleet.martsDB)
	})
	if fleet.err != nil {
		t.Fatal(fleet.err)
	}
	return fleet.srcURL, fleet.martsDB
}

func buildFleet(srcURL, src, martsDB string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sink, err := warehouse.Open(ctx, srcURL, warehouse.Options{}) // the migrations
	if err != nil {
		return err
	}
	defer sink.Close()
	stmts, err := chtest.Statements(os.DirFS(fleetDir()), "fleet.sql", src)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if err := sink.Conn().Exec(ctx, s); err != nil {
			return err
		}
	}
	work, err := os.MkdirTemp("", "dashboard-dbt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	m := dashboard.Marts{Script: filepath.Join(repoRoot(), "scripts", "dbt.sh"), ClickHouseURL: srcURL, Database: martsDB, WorkDir: work}
	return m.Build(ctx, slog.New(slog.DiscardHandler))
}

// start serves a dashboard on the fleet's marts (martsDB; assets the
// chart library's directory) until the test ends.
func start(t *testing.T, martsDB, assets string, metrics prometheus.Gatherer, log *slog.Logger) *dashboard.Dashboard {
	t.Helper()
	srcURL, _ := fleetMarts(t)
	if log == nil {
		log = slog.New(slog.NewTextHandler(testLog{t}, nil))
	}
	d, err := dashboard.New(context.Background(), dashboard.Config{
		Listen: "127.0.0.1:0", ClickHouseURL: srcURL, MartsDatabase: martsDB, AssetsDir: assets,
	}, dashboard.Deps{Logger: log, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after run has stopped
		if err := d.Close(); err != nil {
			t.Errorf("dashboard close: %v", err)
		}
	})
	testinfra.Background(t, 10*time.Second, "dashboard run", d.Run)
	return d
}

// getJSON fetches url, checks the status and decodes the body into v.
func getJSON(t *testing.T, url string, status int, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, body, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", url, ct)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, body)
	}
}

// testLog writes a logger's lines to the test's log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
