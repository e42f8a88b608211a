package metric_test

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/serviceping/serviceping/pkg/metric"
)

// TestSet: every kind of series is registered under its full name with its
// help, labels and buckets, in the order declared.
func TestSet(t *testing.T) {
	t.Parallel()
	var s metric.Set
	s.Counter("t_c_total", "a counter").Add(2)
	s.CounterVec("t_cv_total", "a counter with labels", "a", "b").WithLabelValues("x", "y").Inc()
	s.Gauge("t_g", "a gauge").Set(3)
	s.GaugeVec("t_gv", "a gauge with labels", "d").WithLabelValues("z").Set(4)
	s.Histogram("t_h_seconds", "a histogram", []float64{1, 2}).Observe(1.5)
	s.HistogramVec("t_hv_seconds", "a histogram with labels", []float64{5}, "e").WithLabelValues("w").Observe(6)
	reg := prometheus.NewRegistry()
	if err := s.Register(reg); err != nil {
		t.Fatalf("Register: %v", err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, f := range families {
		got[f.GetName()] = f
	}
	for _, w := range []struct {
		name, help string
		kind       dto.MetricType
		labels     []string
		buckets    []float64
	}{
		{"t_c_total", "a counter", dto.MetricType_COUNTER, nil, nil},
		{"t_cv_total", "a counter with labels", dto.MetricType_COUNTER, []string{"a", "b"}, nil},
		{"t_g", "a gauge", dto.MetricType_GAUGE, nil, nil},
		{"t_gv", "a gauge with labels", dto.MetricType_GAUGE, []string{"d"}, nil},
		{"t_h_seconds", "a histogram", dto.MetricType_HISTOGRAM, nil, []float64{1, 2}},
		{"t_hv_seconds", "a histogram with labels", dto.MetricType_HISTOGRAM, []string{"e"}, []float64{5}},
	} {
		f := got[w.name]
		if f == nil {
			t.Errorf("%s: not registered", w.name)
			continue
		}
		if f.GetHelp() != w.help || f.GetType() != w.kind {
			t.Errorf("%s: help %q, type %v; want %q, %v", w.name, f.GetHelp(), f.GetType(), w.help, w.kind)
		}
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		if !slices.Equal(labels, w.labels) {
			t.Errorf("%s: labels %v, want %v", w.name, labels, w.labels)
		}
		var buckets []float64
		for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
			buckets = append(buckets, b.GetUpperBound())
		}
		if !slices.Equal(buckets, w.buckets) {
			t.Errorf("%s: buckets %v, want %v", w.name, buckets, w.buckets)
		}
	}
	if len(got) != 6 {
		t.Errorf("%d families registered, want 6", len(got))
	}
	if err := s.Register(nil); err != nil {
		t.Errorf("Register(nil) = %v, want nothing registered and no error", err)
	}
}
