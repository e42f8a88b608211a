package collector

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// apiGet requests path with the token (none when empty) and returns the
// status and body.
func apiGet(t *testing.T, srv *httptest.Server, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	must(t, err)
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	resp, err := srv.Client().Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp.StatusCode, b
}

// TestInstanceAPI serves the API GitLab offers next to the ping and calls
// every route with no token, a wrong one and the right one.
func TestInstanceAPI(t *testing.T) {
	t.Parallel()
	const token = "glpat-test-0123456789"
	col, _ := seededInstance(t, filepath.Join(repoTestdata, "metrics"), 2_000, func(c *Config) { c.APIToken = token })
	h, err := col.Handler()
	must(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, p := range []string{"service_ping", "queries", "non_sql_metrics"} {
		for _, tok := range []string{"", "wrong"} {
			if code, b := apiGet(t, srv, "GET", apiPrefix+p, tok, ""); code != http.StatusUnauthorized || !strings.Contains(string(b), "401 Unauthorized") {
				t.Errorf("%s with token %q: %d %s", p, tok, code, b)
			}
		}
	}
	if code, _ := apiGet(t, srv, "POST", apiPrefix+"track_event", "", `{"event":"internal_events_cli_used"}`); code != http.StatusUnauthorized {
		t.Errorf("track_event without token: %d", code)
	}

	// metric_definitions is public, as on GitLab: every loaded file once.
	code, b := apiGet(t, srv, "GET", apiPrefix+"metric_definitions", "", "")
	var docs []map[string]any
	must(t, yaml.Unmarshal(b, &docs))
	files := map[string]bool{}
	for _, m := range col.Definitions().Metrics {
		files[m.File] = true
	}
	if code != http.StatusOK || len(docs) != len(files) || docs[0]["key_path"] == nil {
		t.Fatalf("metric_definitions: %d, %d documents for %d files", code, len(docs), len(files))
	}

	// service_ping: built once, then the stored payload.
	code, first := apiGet(t, srv, "GET", apiPrefix+"service_ping", token, "")
	if code != http.StatusOK {
		t.Fatalf("service_ping: %d %s", code, first)
	}
	var p map[string]any
	must(t, json.Unmarshal(first, &p))
	if p["uuid"] != col.UUID() || p["counts"].(map[string]any)["issues"] == nil {
		t.Fatalf("service_ping payload: %.300s", first)
	}
	if _, again := apiGet(t, srv, "GET", apiPrefix+"service_ping", token, ""); string(again) != string(first) {
		t.Error("service_ping does not answer the stored payload")
	}

	// queries: SQL for database metrics, values for the rest.
	code, b = apiGet(t, srv, "GET", apiPrefix+"queries", token, "")
	must(t, json.Unmarshal(b, &p))
	issues, _ := p["counts"].(map[string]any)["issues"].(string)
	monthly, _ := p["usage_activity_by_stage_monthly"].(map[string]any)["plan"].(map[string]any)["issues"].(string)
	if code != http.StatusOK || !strings.HasPrefix(issues, `SELECT COUNT("issues"."id") FROM "issues" WHERE`) ||
		!strings.Contains(monthly, `"issues"."created_at" BETWEEN '2025-05-16`) || p["version"] != "17.0.0" {
		t.Errorf("queries: %d counts.issues=%q monthly=%q version=%v", code, issues, monthly, p["version"])
	}

	// non_sql_metrics: -3 for database metrics.
	code, b = apiGet(t, srv, "GET", apiPrefix+"non_sql_metrics", token, "")
	must(t, json.Unmarshal(b, &p))
	if code != http.StatusOK || p["counts"].(map[string]any)["issues"] != float64(-3) || p["license_plan"] != "ultimate" {
		t.Errorf("non_sql_metrics: %d counts.issues=%v license_plan=%v", code, p["counts"].(map[string]any)["issues"], p["license_plan"])
	}

	// track_event records an internal event the metrics then count.
	for _, c := range []struct {
		body string
		want int
	}{
		{`{"event":"internal_events_cli_used","user_id":42,"project_id":7}`, http.StatusOK},
		{`{"event":"no_such_event","user_id":42}`, http.StatusBadRequest},
		{`{"user_id":42}`, http.StatusBadRequest},
	} {
		if code, b := apiGet(t, srv, "POST", apiPrefix+"track_event", token, c.body); code != c.want {
			t.Errorf("track_event %s: %d %s", c.body, code, b)
		}
	}
	res, err := col.Build(t.Context())
	must(t, err)
	got := map[string]any{}
	flatten("", res.Payload, got)
	if got["counts.count_total_internal_events_cli_used"] != int64(1) {
		t.Errorf("after one tracked event: counts.count_total_internal_events_cli_used = %v", got["counts.count_total_internal_events_cli_used"])
	}
}

// TestInstanceAPIOffWithoutToken: with no token configured only the public
// definitions route exists.
func TestInstanceAPIOffWithoutToken(t *testing.T) {
	t.Parallel()
	col, _ := seededInstance(t, filepath.Join(repoTestdata, "metrics"), 200, nil)
	h, err := col.Handler()
	must(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	if code, _ := apiGet(t, srv, "GET", apiPrefix+"service_ping", "", ""); code != http.StatusNotFound {
		t.Errorf("service_ping without a configured token: %d", code)
	}
	if code, _ := apiGet(t, srv, "GET", apiPrefix+"metric_definitions", "", ""); code != http.StatusOK {
		t.Errorf("metric_definitions: %d", code)
	}
}

// TestProfiles: Go's profiles are served beside /metrics with PPROF=true
// only; off, their path is not found.
func TestProfiles(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		col, _ := seededInstance(t, filepath.Join(repoTestdata, "metrics"), 100, func(c *Config) { c.Profiling.PPROF = on })
		h, err := col.Handler()
		must(t, err)
		srv := httptest.NewServer(h)
		code, b := apiGet(t, srv, "GET", "/debug/pprof/heap?debug=1", "", "")
		srv.Close()
		if on && (code != http.StatusOK || !strings.Contains(string(b), "heap profile")) || !on && code != http.StatusNotFound {
			t.Errorf("PPROF=%v: GET /debug/pprof/heap?debug=1 = %d %.100s", on, code, b)
		}
	}
}
