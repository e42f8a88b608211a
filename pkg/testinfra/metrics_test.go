package testinfra

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestReadMetric: the counter and gauge samples of the name whose labels
// include the wanted ones are summed, other names and labels left out, and
// a Gather error is returned, not a sum.
func TestReadMetric(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	pending := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "t_pending", Help: "h"}, []string{"stream", "consumer"})
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "t_other_total", Help: "h"})
	reg.MustRegister(pending, other)
	pending.WithLabelValues("PINGS", "enricher").Set(2)
	pending.WithLabelValues("REPORTS", "enricher").Set(3)
	pending.WithLabelValues("PINGS", "loader").Set(7)
	other.Add(100)
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{nil, 12},
		{map[string]string{"consumer": "enricher"}, 5},
		{map[string]string{"consumer": "enricher", "stream": "REPORTS"}, 3},
		{map[string]string{"consumer": "nobody"}, 0},
	} {
		got, err := ReadMetric(reg, "t_pending", c.labels)
		if err != nil || got != c.want {
			t.Errorf("ReadMetric(t_pending, %v) = %v, %v; want %v", c.labels, got, err, c.want)
		}
		if m := Metric(t, reg, "t_pending", c.labels); m != c.want {
			t.Errorf("Metric(t_pending, %v) = %v, want %v", c.labels, m, c.want)
		}
	}
	refused := errors.New("connection refused")
	failing := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, refused })
	if got, err := ReadMetric(failing, "t_pending", nil); !errors.Is(err, refused) || got != 0 {
		t.Errorf("ReadMetric of a failing gatherer = %v, %v; want 0 and its error", got, err)
	}
}
