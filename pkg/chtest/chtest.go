// Package chtest gives tests the embedded ClickHouse engine (chDB,
// CHDB_LIB) behind its HTTP endpoint. The engine is a process
// singleton: every test of a package shares one engine and one endpoint,
// each test working in its own database.
package chtest

import (
	"context"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/chdb"
	"github.com/serviceping/serviceping/pkg/chhttp"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

var shared struct {
	once   sync.Once
	err    error
	dir    string
	engine *chdb.Engine
	server *httptest.Server
	reg    *prometheus.Registry
}

var seq atomic.Int64

// Main runs the package's tests and releases the engine; call it from
// TestMain: os.Exit(chtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.server != nil {
		shared.server.Close()
	}
	if shared.engine != nil {
		_ = shared.engine.Close()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	return code
}

// Endpoint returns the shared endpoint's base URL (http://127.0.0.1:port).
func Endpoint(tb testing.TB) string {
	tb.Helper()
	lib := testinfra.Env(tb, "CHDB_LIB")
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "chtest-")
		if shared.err != nil {
			return
		}
		shared.engine, shared.err = chdb.Open(lib, shared.dir)
		if shared.err != nil {
			return
		}
		shared.reg = prometheus.NewRegistry()
		var h *chhttp.Handler
		h, shared.err = chhttp.New(shared.engine, chhttp.Options{Registerer: shared.reg, QueryTimeout: 2 * time.Minute})
		if shared.err != nil {
			return
		}
		shared.server = httptest.NewServer(h)
	})
	if shared.err != nil {
		tb.Fatalf("start embedded ClickHouse: %v", shared.err)
	}
	return shared.server.URL
}

// Engine is the shared engine, for a test that serves it with other
// endpoint options.
func Engine(tb testing.TB) *chdb.Engine {
	tb.Helper()
	Endpoint(tb)
	return shared.engine
}

// Registry holds the shared endpoint's metrics.
func Registry(tb testing.TB) *prometheus.Registry {
	tb.Helper()
	Endpoint(tb)
	return shared.reg
}

// Database returns a fresh database name for one test (not created).
func Database(tb testing.TB, prefix string) string {
	tb.Helper()
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), seq.Add(1))
}

// URL is a CLICKHOUSE_URL for database db on the shared endpoint, or on
// base when given (a proxy in front of it).
func URL(tb testing.TB, db string, base ...string) string {
	tb.Helper()
	u := Endpoint(tb)
	if len(base) > 0 {
		u = base[0]
	}
	return u + "/" + db
}

// Conn opens a clickhouse-go HTTP client on the shared endpoint in
// database db ("" for default), closed when the test ends.
func Conn(tb testing.TB, db string) driver.Conn {
	tb.Helper()
	if db == "" {
		db = "default"
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:     []string{strings.TrimPrefix(Endpoint(tb), "http://")},
		Protocol: clickhouse.HTTP,
		Auth:     clickhouse.Auth{Database: db},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Count runs a query returning one UInt64 (count()).
func Count(tb testing.TB, conn driver.Conn, sql string, args ...any) uint64 {
	tb.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}

// WaitCount polls a query returning one UInt64 (count()) until it returns
// want, failing the test after timeout with the query and its last count
// or error.
func WaitCount(tb testing.TB, conn driver.Conn, timeout time.Duration, want uint64, sql string, args ...any) {
	tb.Helper()
	testinfra.Eventually(tb, timeout, fmt.Sprintf("%s = %d", sql, want), func() error {
		var n uint64
		if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("%d", n)
		}
		return nil
	})
}

// Statements reads the SQL file file of fsys as statements for database
// db, to run in order: each statement ends with a semicolon at the end of
// a line, comment lines (starting with --) are dropped, "serviceping."
// becomes "db." and {csv:FILE} becomes the content of FILE (beside file)
// as a string literal. The loader's dbt fleet
// (services/loader/internal/dbttest/testdata/fleet/fleet.sql) is written
// this way.
func Statements(fsys fs.FS, file, db string) ([]string, error) {
	sql, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	csvRef := regexp.MustCompile(`\{csv:([A-Za-z0-9_.-]+)\}`)
	var out []string
	for _, chunk := range strings.Split(string(sql), ";\n") {
		var code []string
		for _, line := range strings.Split(chunk, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "--") {
				code = append(code, line)
			}
		}
		stmt := strings.TrimSuffix(strings.TrimSpace(strings.Join(code, "\n")), ";")
		if stmt == "" {
			continue
		}
		stmt = strings.ReplaceAll(stmt, "serviceping.", db+".")
		var readErr error
		stmt = csvRef.ReplaceAllStringFunc(stmt, func(ref string) string {
			data, err := fs.ReadFile(fsys, path.Join(path.Dir(file), csvRef.FindStringSubmatch(ref)[1]))
			if err != nil {
				readErr = fmt.Errorf("%s: %s: %w", file, ref, err)
			}
			return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(string(data)) + "'"
		})
		if readErr != nil {
			return nil, readErr
		}
		out = append(out, stmt)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no statements", file)
	}
	return out, nil
}
