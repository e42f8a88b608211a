package dashboard_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/services/serviceping/internal/dashboard"
)

// TestEndpointsFleet: every JSON endpoint answers, for the fleet, exactly
// the figures computed from the fleet's files (expect_test.go).
func TestEndpointsFleet(t *testing.T) {
	_, marts := fleetMarts(t)
	d := start(t, marts, t.TempDir(), nil, nil)
	pings := loadFleet(t)

	t.Run("adoption", func(t *testing.T) {
		var got dashboard.Adoption
		getJSON(t, d.URL+"/api/adoption", http.StatusOK, &got)
		want := expectAdoption(t, pings)
		if len(want.Weeks) < 5 || len(want.Versions) == 0 || len(want.Editions) == 0 {
			t.Fatalf("expected adoption %+v: the fleet has pings in at least five weeks", want)
		}
		same(t, "adoption", got, want)
	})
	t.Run("stages", func(t *testing.T) {
		var got dashboard.Stages
		getJSON(t, d.URL+"/api/stages", http.StatusOK, &got)
		want := expectStages(t, pings)
		if len(want.Rows) == 0 {
			t.Fatal("no xMAU rows expected: the fleet lost its 28d xMAU metrics")
		}
		same(t, "stages", got, want)
	})
	t.Run("devops score", func(t *testing.T) {
		var got dashboard.DevOpsScore
		getJSON(t, d.URL+"/api/devops-score", http.StatusOK, &got)
		want, instances := expectDevOpsScore(t, pings)
		if len(want.Leaders) < 3 {
			t.Fatalf("expected leaders %+v: the fleet scores three uuids in its latest month", want.Leaders)
		}
		same(t, "devops score", got, want)
		for uuid, w := range instances {
			var gi dashboard.InstanceScore
			getJSON(t, d.URL+"/api/devops-score/instance?uuid="+uuid, http.StatusOK, &gi)
			same(t, "instance "+uuid, gi, w)
		}
		var e struct{ Error string }
		getJSON(t, d.URL+"/api/devops-score/instance?uuid=nobody", http.StatusNotFound, &e)
		getJSON(t, d.URL+"/api/devops-score/instance", http.StatusBadRequest, &e)
	})
	t.Run("licenses", func(t *testing.T) {
		var got dashboard.Licenses
		getJSON(t, d.URL+"/api/licenses", http.StatusOK, &got)
		want := expectLicenses(pings)
		if len(want.Subscriptions) < 4 {
			t.Fatalf("expected subscriptions %+v: the fleet has four", want.Subscriptions)
		}
		// days_since_last_ping counts from the day the marts were built.
		today := time.Now().UTC().Format(time.DateOnly)
		for i := range want.Subscriptions {
			s := &want.Subscriptions[i]
			s.DaysSinceLastPing = daysSince(t, s.LastPingAt, fleet.builtDay)
			if today != fleet.builtDay && i < len(got.Subscriptions) && got.Subscriptions[i].DaysSinceLastPing == daysSince(t, s.LastPingAt, today) {
				s.DaysSinceLastPing = got.Subscriptions[i].DaysSinceLastPing // built across midnight
			}
		}
		same(t, "licenses", got, want)
	})
	t.Run("health", func(t *testing.T) {
		var got dashboard.Health
		getJSON(t, d.URL+"/api/health", http.StatusOK, &got)
		want := expectHealth(t, pings)
		if len(want.Received) == 0 || len(want.Fallbacks) < 4 {
			t.Fatalf("expected health %+v: the fleet's pings run four versions", want)
		}
		same(t, "health", got, want)
		if got.Live != nil {
			t.Errorf("live figures %+v without a metrics source", got.Live)
		}
	})
}

// liveMetrics serves the series the health page reads, as a gateway and a
// loader would, and returns their /metrics URLs.
func liveMetrics(t *testing.T) []string {
	t.Helper()
	gw, ld := prometheus.NewRegistry(), prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "serviceping_gateway_requests_total"}, []string{"route", "code"})
	rejections := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "serviceping_gateway_rejections_total"}, []string{"reason"})
	enr := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "serviceping_enricher_messages_total"}, []string{"outcome"})
	gw.MustRegister(requests, rejections, enr)
	msgs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "serviceping_loader_messages_total"}, []string{"outcome"})
	reports := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "serviceping_loader_report_messages_total"}, []string{"outcome"})
	lagH := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "serviceping_loader_ping_lag_seconds", Buckets: []float64{1, 2, 4}})
	ld.MustRegister(msgs, reports, lagH)
	requests.WithLabelValues("/usage_data", "202").Add(7)
	requests.WithLabelValues("/usage_data/upload", "200").Add(2)
	requests.WithLabelValues("/usage_data", "400").Add(3)
	requests.WithLabelValues("/usage_ping_errors", "202").Add(5)
	rejections.WithLabelValues("invalid_json").Add(2)
	rejections.WithLabelValues("too_large").Add(1)
	enr.WithLabelValues("ack").Add(9)
	enr.WithLabelValues("dlq").Add(1)
	msgs.WithLabelValues("dlq").Add(2)
	msgs.WithLabelValues("ack").Add(8)
	reports.WithLabelValues("dlq").Add(0)
	for _, s := range []float64{0.5, 0.5, 1.5, 3, 10} {
		lagH.Observe(s)
	}
	var urls []string
	for _, reg := range []*prometheus.Registry{gw, ld} {
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	return urls
}

// TestHealthLive: with a metrics source the health endpoint adds the
// services' counters, read from their /metrics as `serviceping ui
// --metrics` does (two services, one family each side).
func TestHealthLive(t *testing.T) {
	_, marts := fleetMarts(t)
	urls := liveMetrics(t)
	d := start(t, marts, t.TempDir(), dashboard.Scrape{URLs: urls}, nil)
	var got dashboard.Health
	getJSON(t, d.URL+"/api/health", http.StatusOK, &got)
	le := func(f float64) *float64 { return &f }
	want := &dashboard.Live{
		Accepted:    9,
		Rejected:    []dashboard.Count{{Key: "invalid_json", Count: 2}, {Key: "too_large", Count: 1}},
		DeadLetters: []dashboard.Count{{Key: "enricher (raw pings)", Count: 1}, {Key: "loader (enriched pings)", Count: 2}, {Key: "loader (reports)", Count: 0}},
		Lag: &dashboard.Lag{Count: 5, Mean: 15.5 / 5,
			// Rank 2.5 falls in (1, 2], which holds the 3rd: 1 + 1 × 0.5 / 1;
			// rank 4.75 is past the last finite bucket (4 pings ≤ 4 s): 4.
			P50: 1 + (2.5-2)/1*1, P95: 4,
			Buckets: []dashboard.LagBucket{{LE: le(1), Count: 2}, {LE: le(2), Count: 1}, {LE: le(4), Count: 1}, {Count: 1}}},
	}
	same(t, "live", got.Live, want)
	if got.LiveError != "" {
		t.Errorf("live_error %q", got.LiveError)
	}

	// A service that cannot be scraped: what the others serve is shown.
	d2 := start(t, marts, t.TempDir(), dashboard.Scrape{URLs: []string{urls[0], "http://127.0.0.1:1/metrics"}}, nil)
	getJSON(t, d2.URL+"/api/health", http.StatusOK, &got)
	if got.Live == nil || got.Live.Accepted != 9 || len(got.Live.Rejected) != 2 {
		t.Errorf("live with one service down = %+v, want the gateway's figures", got.Live)
	}
}

// TestMartsMissing: before `make dbt` every endpoint answers 503 with the
// message the pages show.
func TestMartsMissing(t *testing.T) {
	fleetMarts(t)
	d := start(t, chtest.Database(t, "dash_nomarts"), t.TempDir(), nil, nil)
	for _, p := range dashboard.Pages() {
		var e struct{ Error, Code string }
		getJSON(t, d.URL+p.API, http.StatusServiceUnavailable, &e)
		if e.Error != dashboard.MartsMissing || e.Code != "marts_missing" {
			t.Errorf("%s: %+v, want %q", p.API, e, dashboard.MartsMissing)
		}
	}
}

// same fails unless got and want encode to the same JSON, numbers equal to
// 1e-9 relative (sums and ratios computed in another order).
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	var g, w any
	for _, x := range []struct {
		v   any
		out *any
	}{{got, &g}, {want, &w}} {
		b, err := json.Marshal(x.v)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, x.out); err != nil {
			t.Fatal(err)
		}
	}
	if diffs := diff("", g, w); len(diffs) > 0 {
		t.Errorf("%s differs from the figures computed from the fleet:\n  %s\ngot  %s\nwant %s", what, strings.Join(diffs, "\n  "), show(got), show(want))
	}
}

func diff(path string, g, w any) []string {
	switch wv := w.(type) {
	case map[string]any:
		gv, ok := g.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v, want an object", path, g)}
		}
		var out []string
		for k := range wv {
			out = append(out, diff(path+"."+k, gv[k], wv[k])...)
		}
		for k := range gv {
			if _, ok := wv[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: unexpected", path, k))
			}
		}
		return out
	case []any:
		gv, ok := g.([]any)
		if !ok || len(gv) != len(wv) {
			return []string{fmt.Sprintf("%s: %v, want %v", path, g, w)}
		}
		var out []string
		for i := range wv {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), gv[i], wv[i])...)
		}
		return out
	case float64:
		gv, ok := g.(float64)
		if !ok || math.Abs(gv-wv) > 1e-9*math.Max(1, math.Abs(wv)) {
			return []string{fmt.Sprintf("%s: %v, want %v", path, g, w)}
		}
		return nil
	default:
		if g != w {
			return []string{fmt.Sprintf("%s: %v, want %v", path, g, w)}
		}
		return nil
	}
}
