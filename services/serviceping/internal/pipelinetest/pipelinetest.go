// Package pipelinetest starts the all-in-one for end-to-end tests: free
// loopback ports, a temporary data directory, the embedded ClickHouse, and
// stage settings from env on top of the documented defaults.
package pipelinetest

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipeline"
	"github.com/serviceping/serviceping/services/serviceping/internal/warehouse"
)

// Main runs a test package that starts the pipeline: its embedded engine
// runs in a child process, which is the test binary started again
// (warehouse.RunIfChild). Call it from the package's TestMain.
func Main(m *testing.M) {
	warehouse.RunIfChild()
	os.Exit(m.Run())
}

// Start runs the pipeline until the test ends. env holds stage settings
// (e.g. LOADER_BATCH_MAX_AGE); the loader's batch age defaults to 200ms so
// tests do not wait for the production 5s.
func Start(tb testing.TB, env map[string]string) *pipeline.Pipeline {
	tb.Helper()
	testinfra.Env(tb, "CHDB_LIB") // the embedded warehouse
	vars := map[string]string{"LOADER_BATCH_MAX_AGE": "200ms"}
	for k, v := range env {
		vars[k] = v
	}
	ctx := context.Background()
	stages, err := pipeline.LoadStageConfigs(ctx, envconfig.MapLookuper(vars))
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	p, err := pipeline.Start(ctx, pipeline.Config{
		DataDir: tb.TempDir(), HTTPListen: "127.0.0.1:0", NATSListen: "127.0.0.1:0", ClickHouseListen: "127.0.0.1:0",
		Gateway: stages.Gateway, Enricher: stages.Enricher, Loader: stages.Loader, Warehouse: stages.Warehouse,
	}, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("pipeline close: %v", err)
		}
	})
	return p
}

// Conn opens a ClickHouse client on p's warehouse endpoint, closed when
// the test ends.
func Conn(tb testing.TB, p *pipeline.Pipeline) driver.Conn {
	tb.Helper()
	conn, err := chconn.Open(context.Background(), p.ClickHouseURL)
	if err != nil {
		tb.Fatalf("open the warehouse at %s: %v", p.ClickHouseURL, err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}
