package main

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/cli/clitest"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

// TestRunReadiness: the standalone enricher's /readyz follows its
// directory database through an outage and back.
func TestRunReadiness(t *testing.T) {
	_, natsURL := testinfra.NATS(t)
	dbURL := testinfra.PostgresDB(t, "enricher_ready", "../../deploy/postgres/0001_directory.sql")
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := testinfra.Proxy(t, u.Host)
	u.Host = db.Addr
	metrics := clitest.ClosedAddr(t)
	t.Setenv("NATS_URL", natsURL)
	t.Setenv("DIRECTORY_URL", u.String())
	t.Setenv("METRICS_LISTEN", metrics)
	stop := testinfra.Start(t, 30*time.Second, func(ctx context.Context) error {
		return run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	})
	base := "http://" + metrics
	testinfra.Readyz(t, base, "ready", "nats", "ok")
	testinfra.Readyz(t, base, "ready", "directory", "ok")
	testinfra.ProxyOutage(t, base, "directory", "ping directory database", db)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
