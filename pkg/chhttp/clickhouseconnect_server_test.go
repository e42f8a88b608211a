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
// testdata/clickhouse_connect_server.py (one statement per request,
// sessions, time zones, streamed results and errors in them, external
// tables) with the Python of SERVICEPING_TEST_PYTHON, as TestClickHouseConnect
// does.
func TestClickHouseConnectServerBehaviour(t *testing.T) {
	t.Parallel()
	python := testinfra.Env(t, "SERVICEPING_TEST_PYTHON")
	u, err := url.Parse(endpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "testdata/clickhouse_connect_server.py", u.Hostname(), u.Port()).CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "OK") {
		t.Fatalf("clickhouse-connect: %v\n%s", err, out)
	}
}
