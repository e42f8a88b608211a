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
