package dashdeploytest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/loader/internal/dbttest"
	"github.com/serviceping/serviceping/services/loader/warehouse"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// The dashboards' databases, as the all-in-one names them: the loader's
// tables and the marts dbt builds. This package's engine is its own
// (chtest: one per test process), so the fixed names collide with no one.
const (
	sourceDB = "serviceping"
	martDB   = "serviceping_analytics"
)

// fleet is the warehouse every test of the package reads, built once.
var fleet struct {
	once     sync.Once
	endpoint string
	err      error
}

// fleetWarehouse loads the hand-written fleet (dbttest.FleetStatements)
// into the serviceping database of the package's embedded ClickHouse,
// builds the marts with `make dbt` in serviceping_analytics and returns
// the endpoint's base URL.
func fleetWarehouse(t *testing.T) string {
	t.Helper()
	testinfra.Env(t, "SERVICEPING_DBT")
	endpoint := chtest.Endpoint(t)
	fleet.once.Do(func() {
		fleet.endpoint = endpoint
		fleet.err = buildFleet(endpoint)
	})
	if fleet.err != nil {
		t.Fatal(fleet.err)
	}
	return fleet.endpoint
}

func buildFleet(endpoint string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sink, err := warehouse.Open(ctx, endpoint+"/"+sourceDB, warehouse.Options{}) // the migrations
	if err != nil {
		return fmt.Errorf("migrate the fleet's warehouse: %w", err)
	}
	defer sink.Close()
	stmts, err := dbttest.FleetStatements(sourceDB)
	if err != nil {
		return err
	}
	for i, stmt := range stmts {
		if err := sink.Conn().Exec(ctx, stmt); err != nil {
			return fmt.Errorf("fleet.sql statement %d: %w", i+1, err)
		}
	}
	tmp, err := os.MkdirTemp("", "dashdeploytest-dbt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(), "scripts", "dbt.sh"), "build")
	cmd.Env = append(cleanEnv(),
		"CLICKHOUSE_URL="+endpoint+"/"+sourceDB,
		"DBT_CLICKHOUSE_SCHEMA="+martDB,
		"DBT_TARGET_PATH="+filepath.Join(tmp, "target"),
		"DBT_LOG_PATH="+filepath.Join(tmp, "logs"),
		"DBT_USE_COLORS=false",
	)
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("make dbt on the fleet: %w\n%s", err, tail(string(out), 8000))
	}
	return nil
}

// cleanEnv is the environment without what a parent make or the caller's
// own warehouse, dbt or Superset settings would hand a child process.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "MAKEFLAGS" || name == "MFLAGS" || name == "MAKELEVEL" || name == "CLICKHOUSE_URL" ||
			strings.HasPrefix(name, "DBT_") || strings.HasPrefix(name, "SUPERSET_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// repoRoot is the repository's root directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// decodeEach decodes every file matching pattern (a filepath.Glob) with
// unmarshal into a T and calls each with the file and the value; no file
// matching, or one that does not read or decode, fails the test.
func decodeEach[T any](t *testing.T, pattern string, unmarshal func([]byte, any) error, each func(file string, v T)) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		rel, _ := filepath.Rel(repoRoot(), pattern)
		t.Fatalf("%s: no such files (%v)", rel, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		var v T
		if err == nil {
			err = unmarshal(data, &v)
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		each(f, v)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
