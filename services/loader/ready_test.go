package main

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/cli/clitest"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// TestRunReadiness: the standalone loader's /readyz follows each of its
// dependencies — NATS, ClickHouse and the lake — through an outage and
// back.
func TestRunReadiness(t *testing.T) {
	_, natsURL := testinfra.NATS(t)
	nu, err := url.Parse(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	natsProxy := testinfra.Proxy(t, nu.Host)
	cu, err := url.Parse(chtest.Endpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	chProxy := testinfra.Proxy(t, cu.Host)
	root := filepath.Join(t.TempDir(), "lake")
	metrics := clitest.ClosedAddr(t)
	t.Setenv("NATS_URL", "nats://"+natsProxy.Addr)
	t.Setenv("CLICKHOUSE_URL", "http://"+chProxy.Addr+"/"+chtest.Database(t, "ready"))
	t.Setenv("LAKE_URL", root)
	t.Setenv("METRICS_LISTEN", metrics)
	stop := testinfra.Start(t, 30*time.Second, func(ctx context.Context) error {
		return run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	})
	base := "http://" + metrics
	for _, dep := range []string{"nats", "clickhouse", "lake"} {
		testinfra.Readyz(t, base, "ready", dep, "ok")
	}

	testinfra.ProxyOutage(t, base, "clickhouse", "clickhouse:", chProxy)
	testinfra.Outage(t, base, "lake", "lake directory",
		func() error { return os.Rename(root, root+".away") },
		func() error { return os.Rename(root+".away", root) })
	testinfra.ProxyOutage(t, base, "nats", "nats is", natsProxy)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
