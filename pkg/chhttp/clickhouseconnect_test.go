package chhttp_test

import (
	"testing"
)

// TestClickHouseConnect runs testdata/clickhouse_connect_smoke.py with the
// Python interpreter named by SERVICEPING_TEST_PYTHON, which must be able to
// import clickhouse_connect (pip install clickhouse-connect; dbt-clickhouse
// depends on it).
func TestClickHouseConnect(t *testing.T) {
	t.Parallel()
	runClickHouseConnect(t, "testdata/clickhouse_connect_smoke.py")
}
