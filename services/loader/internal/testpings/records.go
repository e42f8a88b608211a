package testpings

import (
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/pinggen"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// Records builds n warehouse records as the loader does (rows.Builder)
// from the envelopes envelope makes for 0..n-1 with one generator; an
// error fails tb.
func Records(tb testing.TB, n int, envelope func(g *pinggen.Generator, i int) (*servicepingv1.EnrichedPing, error)) []rows.Record {
	tb.Helper()
	g, err := pinggen.New()
	if err != nil {
		tb.Fatal(err)
	}
	var b rows.Builder
	out := make([]rows.Record, 0, n)
	for i := range n {
		ep, err := envelope(g, i)
		if err != nil {
			tb.Fatalf("envelope %d: %v", i, err)
		}
		r, err := b.Build(ep, time.Time{})
		if err != nil {
			tb.Fatalf("record %d: %v", i, err)
		}
		out = append(out, r)
	}
	return out
}

// One returns Generated's envelope of ping (instance, week) from a new
// generator; an error fails tb.
func One(tb testing.TB, instance, week int) *servicepingv1.EnrichedPing {
	tb.Helper()
	g, err := pinggen.New()
	if err != nil {
		tb.Fatal(err)
	}
	ep, err := Generated(g, instance, week)
	if err != nil {
		tb.Fatal(err)
	}
	return ep
}

// SamePing reports whether the ping row a sink gave back equals want, by
// value (pointers dereferenced), with want's times truncated to precision
// (time.Millisecond for ClickHouse's DateTime64(3); 0 keeps them whole).
func SamePing(got, want rows.Ping, precision time.Duration) bool {
	if !got.RecordedAt.Equal(want.RecordedAt.Truncate(precision)) || !got.ReceivedAt.Equal(want.ReceivedAt.Truncate(precision)) ||
		!samePtr(got.LicenseStartsAt, want.LicenseStartsAt) || !samePtr(got.LicenseExpiresAt, want.LicenseExpiresAt) ||
		!samePtr(got.ActiveUserCount, want.ActiveUserCount) || !samePtr(got.LicenseUserCount, want.LicenseUserCount) ||
		!samePtr(got.LicenseTrial, want.LicenseTrial) {
		return false
	}
	got.RecordedAt, got.ReceivedAt, want.RecordedAt, want.ReceivedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	got.LicenseStartsAt, got.LicenseExpiresAt, want.LicenseStartsAt, want.LicenseExpiresAt = nil, nil, nil, nil
	got.ActiveUserCount, got.LicenseUserCount, want.ActiveUserCount, want.LicenseUserCount = nil, nil, nil, nil
	got.LicenseTrial, want.LicenseTrial = nil, nil
	return got == want
}

// SameMetric is SamePing for a metric row.
func SameMetric(got, want rows.Metric, precision time.Duration) bool {
	if !samePtr(got.Value, want.Value) || !got.RecordedAt.Equal(want.RecordedAt.Truncate(precision)) {
		return false
	}
	got.Value, want.Value = nil, nil
	got.RecordedAt, want.RecordedAt = time.Time{}, time.Time{}
	return got == want
}

// samePtr reports whether a and b are both nil or point at equal values.
func samePtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
