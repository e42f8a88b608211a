package collector

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/testinfra"
)

// TestRun: Run serves the endpoints on COLLECTOR_LISTEN (usage ping off:
// only them) and returns nil once ctx ends and they have drained.
func TestRun(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	reg := prometheus.NewRegistry()
	col, err := New(Config{Enabled: false, DefinitionsDir: filepath.Join(repoTestdata, "metrics"), GatewayURL: "http://127.0.0.1:1",
		Listen: addr, MetricTimeout: time.Second, Concurrency: 1, SubmitAttempts: 1, DataDir: t.TempDir()},
		Deps{Registerer: reg, Gatherer: reg})
	must(t, err)
	defer col.Close()
	stop := testinfra.Start(t, 15*time.Second, col.Run)

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	testinfra.Eventually(t, 10*time.Second, "the endpoints to answer", func() error {
		if code, body := get("/healthz"); code != http.StatusOK {
			return fmt.Errorf("/healthz: %d (0: no answer) %s", code, body)
		}
		return nil
	})
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "collector_build_duration_seconds") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
