package chhttp_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/serviceping/serviceping/pkg/chtest"
)

// The engine is a process singleton (pkg/chtest): every test of the
// package shares one engine and one endpoint, each test working in its own
// database.
func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// endpoint returns the base URL of the shared endpoint (http://127.0.0.1:port).
func endpoint(tb testing.TB) string { return chtest.Endpoint(tb) }

// connect opens a clickhouse-go v2 HTTP client on the shared endpoint.
func connect(tb testing.TB, db string, comp *clickhouse.Compression) driver.Conn {
	tb.Helper()
	addr := strings.TrimPrefix(endpoint(tb), "http://")
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Protocol:    clickhouse.HTTP,
		Auth:        clickhouse.Auth{Database: db},
		Compression: comp,
		DialTimeout: 10 * time.Second,
		ReadTimeout: 2 * time.Minute,
	})
	if err != nil {
		tb.Fatalf("open clickhouse-go: %v", err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

// database creates a fresh database for one test and drops it afterwards.
func database(tb testing.TB, name string) string {
	tb.Helper()
	conn := connect(tb, "", nil)
	ctx := context.Background()
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		tb.Fatalf("drop database %s: %v", name, err)
	}
	if err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() { _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" SYNC") })
	return name
}

func mustExec(tb testing.TB, conn driver.Conn, sql string) {
	tb.Helper()
	if err := conn.Exec(context.Background(), sql); err != nil {
		tb.Fatalf("exec %q: %v", sql, err)
	}
}

func count(tb testing.TB, conn driver.Conn, sql string) uint64 {
	tb.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}
