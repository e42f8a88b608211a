package testinfra

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/faultproxy"
)

// Readyz polls base's /readyz (lifecycle.Readiness) for up to 30 s until it
// answers status ("ready": 200, "not_ready": 503) with the check of
// dependency dep containing want ("ok" for a passing one).
func Readyz(tb testing.TB, base, status, dep, want string) {
	tb.Helper()
	wantCode := map[string]int{"ready": http.StatusOK, "not_ready": http.StatusServiceUnavailable}[status]
	Eventually(tb, 30*time.Second, fmt.Sprintf("/readyz %s with %s %q", status, dep, want), func() error {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		var body struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		if err := json.Unmarshal(b, &body); err != nil || resp.StatusCode != wantCode || body.Status != status || !strings.Contains(body.Checks[dep], want) {
			return fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return nil
	})
}

// Outage checks that base's /readyz follows dependency dep through an
// outage and back: once cut has made dep unreachable it answers not_ready
// with dep's check containing broken; once restore has brought it back,
// ready with dep's check ok.
func Outage(tb testing.TB, base, dep, broken string, cut, restore func() error) {
	tb.Helper()
	if err := cut(); err != nil {
		tb.Fatalf("cut %s: %v", dep, err)
	}
	Readyz(tb, base, "not_ready", dep, broken)
	if err := restore(); err != nil {
		tb.Fatalf("restore %s: %v", dep, err)
	}
	Readyz(tb, base, "ready", dep, "ok")
}

// ProxyOutage is Outage with dep behind the fault proxy p: Cut, then
// Restore.
func ProxyOutage(tb testing.TB, base, dep, broken string, p *faultproxy.Proxy) {
	tb.Helper()
	Outage(tb, base, dep, broken, func() error { p.Cut(); return nil }, p.Restore)
}

// Proxy starts a fault proxy in front of addr (host:port), closed when the
// test ends: Cut it to make the dependency behind it unreachable.
func Proxy(tb testing.TB, addr string) *faultproxy.Proxy {
	tb.Helper()
	p, err := faultproxy.Start(addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}
