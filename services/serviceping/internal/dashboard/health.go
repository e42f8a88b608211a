package dashboard

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Health is /api/health: what the warehouse holds (dim_ping_instance,
// mart_ping_health) and, when the dashboard has a metrics source, the
// services' live counters.
type Health struct {
	// Received counts the pings in the warehouse by the day (UTC) the
	// gateway received them.
	Received []DayCount `json:"received"`
	// Fallbacks are mart_ping_health's figures summed per version.
	Fallbacks []VersionHealth `json:"fallbacks"`
	// Live is null without a metrics source; LiveError says why it is
	// missing when reading it failed.
	Live      *Live  `json:"live"`
	LiveError string `json:"live_error,omitempty"`
}

// DayCount is the pings received on a day.
type DayCount struct {
	Day   string `json:"day" ch:"day"`
	Pings uint64 `json:"pings" ch:"pings"`
}

// VersionHealth is one GitLab version: its pings, the metric values its
// pings carried, how many held each fallback (-1 timeout, -2 Redis, -3 SQL
// placeholder, -1000 deprecated), their share, and the error reports its
// instances sent.
type VersionHealth struct {
	Version      string  `json:"version" ch:"version"`
	Pings        uint64  `json:"pings" ch:"pings"`
	MetricValues uint64  `json:"metric_values" ch:"metric_values"`
	Timeout      uint64  `json:"fallback_timeout" ch:"fallback_timeout"`
	Redis        uint64  `json:"fallback_redis" ch:"fallback_redis"`
	SQL          uint64  `json:"fallback_sql" ch:"fallback_sql"`
	Deprecated   uint64  `json:"fallback_deprecated" ch:"fallback_deprecated"`
	FallbackRate float64 `json:"fallback_rate" ch:"fallback_rate"`
	ErrorReports uint64  `json:"error_reports" ch:"error_reports"`
}

// Live are the counters of the running services since they started.
type Live struct {
	// Accepted counts the pings the gateway accepted (2xx answers of
	// /usage_data and /usage_data/upload).
	Accepted uint64 `json:"accepted"`
	// Rejected counts the requests the gateway refused, by reason.
	Rejected []Count `json:"rejected"`
	// DeadLetters counts the messages each consumer dead-lettered.
	DeadLetters []Count `json:"dead_letters"`
	// Lag is the time from the gateway receiving a ping to the loader
	// having written it to every sink (queryable); null when no ping was
	// written yet.
	Lag *Lag `json:"lag"`
}

// Count is a counter's value for a label.
type Count struct {
	Key   string `json:"key"`
	Count uint64 `json:"count"`
}

// Lag summarises the loader's ping-lag histogram.
type Lag struct {
	Count uint64 `json:"count"`
	// Mean, P50 and P95 are seconds; the quantiles are interpolated within
	// the buckets as Prometheus's histogram_quantile does.
	Mean    float64     `json:"mean_seconds"`
	P50     float64     `json:"p50_seconds"`
	P95     float64     `json:"p95_seconds"`
	Buckets []LagBucket `json:"buckets"`
}

// LagBucket counts the pings whose lag was in (previous LE, LE] seconds;
// LE is null for the last bucket (no upper bound).
type LagBucket struct {
	LE    *float64 `json:"le"`
	Count uint64   `json:"count"`
}

// The series the live figures read (the services' own names).
const (
	metricRequests    = "serviceping_gateway_requests_total"
	metricRejections  = "serviceping_gateway_rejections_total"
	metricEnricherMsg = "serviceping_enricher_messages_total"
	metricLoaderMsg   = "serviceping_loader_messages_total"
	metricReportMsg   = "serviceping_loader_report_messages_total"
	metricPingLag     = "serviceping_loader_ping_lag_seconds"
)

func (d *Dashboard) health(ctx context.Context, _ *http.Request) (any, error) {
	if err := d.need(ctx, "dim_ping_instance", "mart_ping_health"); err != nil {
		return nil, err
	}
	h := Health{Received: []DayCount{}, Fallbacks: []VersionHealth{}}
	err := d.selectInto(ctx, &h.Received, `
		SELECT toString(toDate(received_at, 'UTC')) AS day, count() AS pings
		FROM {db}.dim_ping_instance GROUP BY day ORDER BY day`)
	if err == nil {
		err = d.selectInto(ctx, &h.Fallbacks, `
			SELECT version, toUInt64(any(version_pings)) AS pings, toUInt64(sum(metric_pings)) AS metric_values,
			    toUInt64(sum(fallback_timeout_count)) AS fallback_timeout, toUInt64(sum(fallback_redis_count)) AS fallback_redis,
			    toUInt64(sum(fallback_sql_count)) AS fallback_sql, toUInt64(sum(fallback_deprecated_count)) AS fallback_deprecated,
			    if(metric_values > 0, sum(fallback_count) / metric_values, 0) AS fallback_rate,
			    toUInt64(any(version_error_reports)) AS error_reports
			FROM {db}.mart_ping_health GROUP BY version
			ORDER BY splitByChar('.', version)[1]::UInt32 DESC, splitByChar('.', version)[2]::UInt32 DESC, version DESC`)
	}
	if err != nil {
		return nil, err
	}
	if d.metrics != nil {
		fams, err := d.metrics.Gather()
		if err != nil && len(fams) == 0 {
			d.log.Warn("dashboard: read the services' metrics", "err", err)
			h.LiveError = "the services' metrics could not be read: " + err.Error()
		} else {
			h.Live = live(fams)
		}
	}
	return h, nil
}

// live reads the live figures from the gathered families.
func live(fams []*dto.MetricFamily) *Live {
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	l := &Live{Rejected: []Count{}, DeadLetters: []Count{}}
	for _, m := range byName[metricRequests].GetMetric() {
		route, code := label(m, "route"), label(m, "code")
		if (route == "/usage_data" || route == "/usage_data/upload") && strings.HasPrefix(code, "2") {
			l.Accepted += uint64(m.GetCounter().GetValue())
		}
	}
	for _, m := range byName[metricRejections].GetMetric() {
		l.Rejected = append(l.Rejected, Count{Key: label(m, "reason"), Count: uint64(m.GetCounter().GetValue())})
	}
	sort.Slice(l.Rejected, func(i, j int) bool { return l.Rejected[i].Key < l.Rejected[j].Key })
	for _, c := range []struct{ name, key string }{
		{metricEnricherMsg, "enricher (raw pings)"},
		{metricLoaderMsg, "loader (enriched pings)"},
		{metricReportMsg, "loader (reports)"},
	} {
		f, ok := byName[c.name]
		if !ok {
			continue
		}
		var n uint64
		for _, m := range f.GetMetric() {
			if label(m, "outcome") == "dlq" {
				n += uint64(m.GetCounter().GetValue())
			}
		}
		l.DeadLetters = append(l.DeadLetters, Count{Key: c.key, Count: n})
	}
	if f := byName[metricPingLag]; f != nil && len(f.GetMetric()) > 0 {
		l.Lag = lag(f.GetMetric()[0].GetHistogram())
	}
	return l
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// lag summarises a histogram; nil when it counted nothing.
func lag(h *dto.Histogram) *Lag {
	n := h.GetSampleCount()
	if n == 0 {
		return nil
	}
	l := &Lag{Count: n, Mean: h.GetSampleSum() / float64(n)}
	var prev uint64
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		le := b.GetUpperBound()
		l.Buckets = append(l.Buckets, LagBucket{LE: &le, Count: b.GetCumulativeCount() - prev})
		prev = b.GetCumulativeCount()
	}
	l.Buckets = append(l.Buckets, LagBucket{Count: n - prev})
	l.P50, l.P95 = quantile(0.5, h), quantile(0.95, h)
	return l
}

// quantile estimates the q-quantile of h as Prometheus's
// histogram_quantile: linear within the bucket holding the rank, the
// lower bound of the first bucket being 0, and the highest finite bound
// when the rank falls in the last (unbounded) bucket.
func quantile(q float64, h *dto.Histogram) float64 {
	rank := q * float64(h.GetSampleCount())
	lower, prev := 0.0, 0.0
	for _, b := range h.GetBucket() {
		upper, cum := b.GetUpperBound(), float64(b.GetCumulativeCount())
		if math.IsInf(upper, 1) {
			break
		}
		if cum >= rank {
			if cum == prev {
				return upper
			}
			return lower + (upper-lower)*(rank-prev)/(cum-prev)
		}
		lower, prev = upper, cum
	}
	return lower
}

// Scrape gathers the metric families the services serve in Prometheus's
// text format at URLs (each service's /metrics), for `serviceping ui
// --metrics`. A family several services serve is merged.
type Scrape struct {
	URLs   []string
	Client *http.Client
}

var _ prometheus.Gatherer = Scrape{}

// Gather fetches every URL; it returns what it could read and the errors
// of the others.
func (s Scrape) Gather() ([]*dto.MetricFamily, error) {
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	merged := map[string]*dto.MetricFamily{}
	var errs []error
	for _, u := range s.URLs {
		fams, err := scrape(client, u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for name, f := range fams {
			if have, ok := merged[name]; ok {
				have.Metric = append(have.Metric, f.Metric...)
				continue
			}
			merged[name] = f
		}
	}
	out := make([]*dto.MetricFamily, 0, len(merged))
	for _, name := range slices.Sorted(maps.Keys(merged)) {
		out = append(out, merged[name])
	}
	return out, errors.Join(errs...)
}

func scrape(client *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: HTTP %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return fams, nil
}
