// Package testinfra starts the real dependencies integration tests talk to:
// an embedded NATS JetStream server per test, and the PostgreSQL, Redis,
// MinIO and chDB that `make test` prepares (scripts/test-env.sh). A missing
// dependency fails the test with instructions; it is never skipped silently.
//
// It also holds what those tests share: Eventually polls a condition (tests
// poll, never sleep), Start runs a stage's Run for the length of a test,
// and Metric reads a registry.
package testinfra

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/serviceping/serviceping/pkg/natsembed"
	"github.com/serviceping/serviceping/pkg/streams"
)

// NATS starts an embedded JetStream server on a free loopback port with a
// temporary store, shut down when the test ends. It returns the server and
// its client URL.
func NATS(tb testing.TB) (*server.Server, string) {
	tb.Helper()
	srv, err := natsembed.Start(natsembed.Config{Listen: "127.0.0.1:0", StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("start embedded NATS: %v", err)
	}
	tb.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv, srv.ClientURL()
}

// Env returns the value of an environment variable that scripts/test-env.sh
// sets, failing the test with instructions when it is missing.
func Env(tb testing.TB, name string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		tb.Fatalf("%s is not set: run the suite with `make test` (scripts/test-env.sh prepares PostgreSQL, Redis, MinIO and chDB)", name)
	}
	return v
}

// PostgresDB creates a fresh database on the PostgreSQL server that
// scripts/test-env.sh started, applies the SQL files in order (a DDL, a
// seed) and returns its URL; the database is dropped when the test ends.
func PostgresDB(tb testing.TB, prefix string, files ...string) string {
	tb.Helper()
	ctx := context.Background()
	admin := Env(tb, "SERVICEPING_TEST_DATABASE_URL")
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("%s_%d", prefix, rand.Uint32())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			tb.Logf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	if len(files) > 0 {
		applySQL(tb, u.String(), files)
	}
	return u.String()
}

func applySQL(tb testing.TB, dbURL string, files []string) {
	tb.Helper()
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatalf("connect to the test database: %v", err)
	}
	defer db.Close(ctx)
	for _, f := range files {
		sql, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := db.Exec(ctx, string(sql)); err != nil {
			tb.Fatalf("apply %s: %v", f, err)
		}
	}
}

// JetStream starts an embedded server (see NATS), connects to it and
// creates the streams; it returns the JetStream handle and the server URL.
func JetStream(tb testing.TB) (jetstream.JetStream, string) {
	tb.Helper()
	_, url := NATS(tb)
	js := Connect(tb, url)
	if err := streams.Ensure(context.Background(), js, streams.Options{}); err != nil {
		tb.Fatalf("create streams: %v", err)
	}
	return js, url
}

// Connect connects to the NATS server(s) at url, reconnecting as long as
// the test runs (a cluster test stops and restarts nodes), and returns the
// JetStream handle; the connection is closed when the test ends.
func Connect(tb testing.TB, url string) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		tb.Fatalf("connect to NATS at %s: %v", url, err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("open JetStream: %v", err)
	}
	return js
}
