package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/serviceping/serviceping/services/gateway/gateway"
)

// TestProfiles: Go's profiles are beside /metrics only with PPROF=true
// (Config.Profiling); off, their paths are the API's 404 like any unknown
// route, and the API answers the same either way.
func TestProfiles(t *testing.T) {
	for _, on := range []bool{false, true} {
		h := newHarness(t, func(c *gateway.Config, _ *gateway.Deps) { c.Profiling.PPROF = on })
		heap := h.do(t, req{method: http.MethodGet, path: "/debug/pprof/heap?debug=1"})
		switch {
		case on && (heap.Code != http.StatusOK || !strings.Contains(heap.Body.String(), "heap profile")):
			t.Errorf("PPROF=true: GET /debug/pprof/heap?debug=1 = %d %.200s", heap.Code, heap.Body)
		case !on && heap.Code != http.StatusNotFound:
			t.Errorf("PPROF off: GET /debug/pprof/heap?debug=1 = %d, want 404", heap.Code)
		}
		if err := wantCode(h.do(t, req{method: http.MethodGet, path: "/metrics"}), http.StatusOK); err != nil {
			t.Errorf("PPROF=%v: /metrics: %v", on, err)
		}
		if err := wantCode(h.postPing(t, readFile(t, "../../../testdata/payloads/docs_example.json"), false), http.StatusCreated); err != nil {
			t.Errorf("PPROF=%v: POST /usage_data: %v", on, err)
		}
	}
}
