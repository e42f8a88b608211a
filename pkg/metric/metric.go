// Package metric declares a component's Prometheus series and registers
// them together with the registry the component is given, never a global
// one. A series is declared by its full name (serviceping_<component>_…),
// the name a dashboard or an alert uses, so a search for it finds its
// declaration.
package metric

import "github.com/prometheus/client_golang/prometheus"

// Set is the series of one component: each method declares a series and
// returns it; Register registers them all. The zero value is ready.
type Set struct {
	collectors []prometheus.Collector
}

func add[C prometheus.Collector](s *Set, c C) C {
	s.collectors = append(s.collectors, c)
	return c
}

// Counter declares a counter.
func (s *Set) Counter(name, help string) prometheus.Counter {
	return add(s, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help}))
}

// CounterVec declares a counter with labels.
func (s *Set) CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return add(s, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
}

// Gauge declares a gauge.
func (s *Set) Gauge(name, help string) prometheus.Gauge {
	return add(s, prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help}))
}

// GaugeVec declares a gauge with labels.
func (s *Set) GaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return add(s, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels))
}

// Histogram declares a histogram with buckets (nil: Prometheus's default
// buckets).
func (s *Set) Histogram(name, help string, buckets []float64) prometheus.Histogram {
	return add(s, prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}))
}

// HistogramVec declares a histogram with buckets and labels.
func (s *Set) HistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return add(s, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels))
}

// Register registers the series declared so far with reg, in the order
// they were declared, as the package's Register does. A nil reg registers
// nothing: a component built without a registry still counts, unseen.
func (s *Set) Register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	return Register(reg, s.collectors...)
}

// Register registers each collector with reg in order and returns the
// first error (the collectors after it stay unregistered), for a
// component that registers its metrics together.
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
