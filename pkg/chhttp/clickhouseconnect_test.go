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

// TestClickHouseConnect runs testdata/clickhouse_connect_smoke.py with the
// Python interpreter named by SERVICEPING_TEST_PYTHON, which must be able to
// import clickhouse_connect (pip install clickhouse-connect; dbt-clickhouse
// depends on it).
func TestClickHouseConnect(t *testing.T) {
	t.Parallel()
	python := testinfra.Env(t, "SERVICEPING_TEST_PYTHON")
	u, err := url.Parse(endpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, python, "-c", "import clickhouse_connect").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import clickhouse_connect (pip install clickhouse-connect): %v\n%s", python, err, out)
	}
	out, err := exec.CommandContext(ctx, python, "testdata/clickhouse_connect_smoke.py", u.Hostname(), u.Port()).CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "OK") {
		t.Fatalf("clickhouse-connect smoke test: %v\n%s", err, out)
	}
}
