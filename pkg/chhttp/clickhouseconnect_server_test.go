package chhttp_test

import (
	"context"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/testinfra"
)

// TestClickHouseConnectServerBehaviour runs
// testdata/clickhouse_connect_server.py: one statement per request,
// sessions, time zones, streamed results and errors in them, external
// tables.
func TestClickHouseConnectServerBehaviour(t *testing.T) {
	t.Parallel()
	runClickHouseConnect(t, "testdata/clickhouse_connect_server.py")
}

// runClickHouseConnect runs a Python script against the shared endpoint
// (arguments HOST PORT) with the interpreter named by
// SERVICEPING_TEST_PYTHON, which must be able to import clickhouse_connect
// (pip install clickhouse-connect; dbt-clickhouse depends on it). The script
// prints OK on success.
func runClickHouseConnect(t *testing.T, script string) {
	t.Helper()
	runClickHouseConnectAt(t, endpoint(t), script)
}

// runClickHouseConnectAt runs script against the endpoint at base, with
// args after HOST PORT.
func runClickHouseConnectAt(t *testing.T, base, script string, args ...string) {
	t.Helper()
	python := testinfra.Env(t, "SERVICEPING_TEST_PYTHON")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, python, "-c", "import clickhouse_connect").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import clickhouse_connect (pip install clickhouse-connect): %v\n%s", python, err, out)
	}
	out, err := exec.CommandContext(ctx, python, append([]string{script, u.Hostname(), u.Port()}, args...)...).CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "OK") {
		t.Fatalf("clickhouse-connect %s: %v\n%s", script, err, out)
	}
}
