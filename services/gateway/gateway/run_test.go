package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/cli/clitest"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/gateway/gateway"
)

// TestRun starts the standalone service before NATS exists: it serves,
// reports not ready and answers 503, then becomes ready by itself once NATS
// is up (streams created), accepts a ping over real HTTP and shuts down
// gracefully when the context ends.
func TestRun(t *testing.T) {
	t.Parallel()
	natsAddr, httpAddr, dir := clitest.ClosedAddr(t), clitest.ClosedAddr(t), t.TempDir()
	cfg := testConfig(t)
	cfg.Listen, cfg.NATSURL = httpAddr, "nats://"+natsAddr
	stop := testinfra.Start(t, 15*time.Second, func(ctx context.Context) error {
		return gateway.Run(ctx, cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	})
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	base := "http://" + httpAddr
	client := &http.Client{Timeout: 5 * time.Second}
	status := func(method, path string, body []byte) int {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	answers := func(path string, want int) func() error {
		return func() error {
			if got := status(http.MethodGet, path, nil); got != want {
				return fmt.Errorf("%s answered %d (0: no answer)", path, got)
			}
			return nil
		}
	}
	testinfra.Eventually(t, 10*time.Second, "healthz", answers("/healthz", http.StatusOK))
	if got := status(http.MethodGet, "/readyz", nil); got != http.StatusServiceUnavailable {
		t.Fatalf("readyz without NATS: %d", got)
	}
	if got := status(http.MethodPost, "/usage_data", validPing("")); got != http.StatusServiceUnavailable {
		t.Fatalf("POST without NATS: %d", got)
	}

	startNATS(t, natsAddr, dir)
	testinfra.Eventually(t, 30*time.Second, "readyz once NATS is up", answers("/readyz", http.StatusOK))
	if got := status(http.MethodPost, "/usage_data", validPing("")); got != http.StatusCreated {
		t.Fatalf("POST with NATS: %d", got)
	}
	if got := status(http.MethodGet, "/metrics", nil); got != http.StatusOK {
		t.Fatalf("metrics: %d", got)
	}
}
