package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestReadiness: /readyz answers 200 while every check passes, 503 naming
// each failing or starting dependency otherwise, and turns ready again
// when a dependency is replaced by a passing check.
func TestReadiness(t *testing.T) {
	r := NewReadiness()
	h := MetricsHandler(prometheus.NewRegistry(), r)
	get := func() (int, map[string]any) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		return rec.Code, body
	}
	if code, body := get(); code != http.StatusOK || body["status"] != "ready" {
		t.Fatalf("no checks: %d %v", code, body)
	}
	var down bool
	r.Add("nats", func(context.Context) error { return nil })
	r.Add("clickhouse", func(context.Context) error {
		if down {
			return errors.New("connection refused")
		}
		return nil
	})
	r.Starting("lake")
	code, body := get()
	checks, _ := body["checks"].(map[string]any)
	if code != http.StatusServiceUnavailable || body["status"] != "not_ready" || checks["lake"] != "starting" || checks["nats"] != "ok" {
		t.Fatalf("starting: %d %v", code, body)
	}
	r.Add("lake", func(context.Context) error { return nil })
	if code, body := get(); code != http.StatusOK {
		t.Fatalf("all up: %d %v", code, body)
	}
	down = true
	code, body = get()
	checks, _ = body["checks"].(map[string]any)
	if code != http.StatusServiceUnavailable || checks["clickhouse"] != "connection refused" {
		t.Fatalf("clickhouse down: %d %v", code, body)
	}
	down = false
	if code, body := get(); code != http.StatusOK {
		t.Fatalf("clickhouse back: %d %v", code, body)
	}
	rec := httptest.NewRecorder()
	MetricsHandler(prometheus.NewRegistry(), nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("nil readiness: %d", rec.Code)
	}
}
