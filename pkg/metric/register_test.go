package metric_test

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/metric"
)

// TestRegister: the collectors are registered in order; the first that
// fails stops the rest and its error is returned.
func TestRegister(t *testing.T) {
	counter := func(name string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: name})
	}
	reg := prometheus.NewRegistry()
	a, b := counter("a_total"), counter("b_total")
	if err := metric.Register(reg, a, b); err != nil {
		t.Fatalf("Register(a, b): %v", err)
	}
	c, d := counter("c_total"), counter("d_total")
	err := metric.Register(reg, c, counter("a_total"), d)
	if are := (prometheus.AlreadyRegisteredError{}); !errors.As(err, &are) {
		t.Fatalf("Register(c, a again, d) = %v, want AlreadyRegisteredError", err)
	}
	if !reg.Unregister(c) {
		t.Error("c, before the failing collector, is not registered")
	}
	if reg.Unregister(d) {
		t.Error("d, after the failing collector, is registered")
	}
	if !reg.Unregister(a) || !reg.Unregister(b) {
		t.Error("a or b of the first call is not registered")
	}
}
