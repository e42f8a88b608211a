package chtest

import (
	"context"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// CountBy runs a query of (String, UInt64) rows, such as
// `SELECT ping_id, count() … GROUP BY ping_id`, and maps each row's first
// column to its second.
func CountBy(tb testing.TB, conn driver.Conn, sql string, args ...any) map[string]uint64 {
	tb.Helper()
	q, err := conn.Query(context.Background(), sql, args...)
	if err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	defer q.Close()
	out := map[string]uint64{}
	for q.Next() {
		var key string
		var n uint64
		if err := q.Scan(&key, &n); err != nil {
			tb.Fatalf("%s: %v", sql, err)
		}
		out[key] = n
	}
	if err := q.Err(); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return out
}
