// Package testinfra starts the real dependencies integration tests talk to:
// an embedded NATS JetStream server per test, and the PostgreSQL, Redis,
// MinIO and chDB that `make test` prepares (scripts/test-env.sh). A missing
// dependency fails the test with instructions; it is never skipped silently.
package testinfra

import (
	"os"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/serviceping/serviceping/pkg/natsembed"
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
