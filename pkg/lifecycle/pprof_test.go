package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

// runMetrics runs lifecycle.Run against an embedded NATS server with a
// metrics listener on a free loopback port until the test ends, and
// returns the listener's base URL once it answers /healthz.
func runMetrics(t *testing.T) string {
	t.Helper()
	_, natsURL := testinfra.NATS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // Run listens on it
	testinfra.Start(t, 15*time.Second, func(ctx context.Context) error {
		return lifecycle.Run(ctx, lifecycle.Options{
			Name: "pprof-test", NATS: lifecycle.NATS{NATSURL: natsURL, Streams: streams.Defaults()}, MetricsListen: addr,
			Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		}, func(ctx context.Context, _ lifecycle.Deps) error {
			<-ctx.Done()
			return nil
		})
	})
	base := "http://" + addr
	testinfra.Eventually(t, 15*time.Second, "the metrics listener answering", func() error {
		code, _, err := get(base + "/healthz")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("/healthz answered %d", code)
		}
		return err
	})
	return base
}

func get(url string) (int, []byte, error) {
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestProfilesOffByDefault: without PPROF the metrics listener of Run
// answers 404 under /debug/pprof/ and serves /metrics.
func TestProfilesOffByDefault(t *testing.T) {
	t.Setenv("PPROF", "") // restored when the test ends
	os.Unsetenv("PPROF")
	base := runMetrics(t)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/profile?seconds=1", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
		code, _, err := get(base + path)
		if err != nil || code != http.StatusNotFound {
			t.Errorf("GET %s without PPROF: %d, %v; want 404", path, code, err)
		}
	}
	if code, body, err := get(base + "/metrics"); err != nil || code != http.StatusOK || !strings.Contains(string(body), "go_goroutines") {
		t.Errorf("GET /metrics: %d, %v", code, err)
	}
}

// TestProfilesOn: with PPROF=true the metrics listener of Run serves a
// one-second CPU profile (gzip-compressed protobuf), the heap profile and
// the index, and still /metrics.
func TestProfilesOn(t *testing.T) {
	t.Setenv("PPROF", "true")
	base := runMetrics(t)
	start := time.Now()
	code, body, err := get(base + "/debug/pprof/profile?seconds=1")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /debug/pprof/profile?seconds=1: %d, %v: %.200s", code, err, body)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("a one-second CPU profile answered after %s", took)
	}
	if len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Errorf("the CPU profile is not gzip-compressed protobuf: %q", body[:min(len(body), 16)])
	}
	if code, body, err := get(base + "/debug/pprof/heap?debug=1"); err != nil || code != http.StatusOK || !strings.Contains(string(body), "heap profile") {
		t.Errorf("GET /debug/pprof/heap?debug=1: %d, %v: %.200s", code, err, body)
	}
	if code, body, err := get(base + "/debug/pprof/"); err != nil || code != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Errorf("GET /debug/pprof/: %d, %v", code, err)
	}
	if code, _, err := get(base + "/metrics"); err != nil || code != http.StatusOK {
		t.Errorf("GET /metrics with PPROF: %d, %v", code, err)
	}
}

// TestProfilesBadValue: a PPROF that is not a boolean stops Run before it
// connects, naming the variable.
func TestProfilesBadValue(t *testing.T) {
	t.Setenv("PPROF", "sometimes")
	err := lifecycle.Run(context.Background(), lifecycle.Options{
		Name: "pprof-test", NATS: lifecycle.NATS{NATSURL: "nats://127.0.0.1:1"}, MetricsListen: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler),
	}, func(context.Context, lifecycle.Deps) error { return errors.New("the body ran") })
	if err == nil || !strings.Contains(err.Error(), "PPROF") {
		t.Fatalf("Run with PPROF=sometimes: %v, want an error naming PPROF", err)
	}
}
