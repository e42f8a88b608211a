package loader

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/internal/testpings"
	"github.com/serviceping/serviceping/services/loader/lake"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// TestPeriodicCompaction: a round compacts the lake's days before
// yesterday — one with a batch written twice under two ids — and leaves
// yesterday and today to the loader.
func TestPeriodicCompaction(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	d, err := lake.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ago := range []int{3, 1, 0} { // days before now
		received := now.AddDate(0, 0, -ago)
		recs := testpings.Records(t, 3, func(g *pinggen.Generator, i int) (*servicepingv1.EnrichedPing, error) {
			return testpings.Enriched(g.JSON(pinggen.Spec{Instance: 10*ago + i, Week: 1}), received)
		})
		for _, b := range []rows.Batch{rows.NewBatch(recs), rows.NewBatch(recs[1:])} {
			if err := d.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := &compactor{lake: d, interval: time.Hour, now: func() time.Time { return now }, days: m.compactedDays, log: slog.New(slog.DiscardHandler)}
	c.once(ctx)

	files, err := lake.Files(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	perDay := map[string][]string{}
	for _, f := range files {
		parts := strings.Split(f, "/")
		perDay[parts[1]] = append(perDay[parts[1]], parts[2])
	}
	if got := perDay["dt=2026-03-07"]; !slices.Equal(got, []string{"compacted.parquet", "compacted.parquet"}) {
		t.Errorf("the day before yesterday holds %v, want its two compacted files", got)
	}
	for _, day := range []string{"dt=2026-03-09", "dt=2026-03-10"} {
		if got := perDay[day]; len(got) != 4 || slices.Contains(got, "compacted.parquet") {
			t.Errorf("%s holds %v, want its four batch files untouched", day, got)
		}
	}
	if got := testinfra.Metric(t, reg, "serviceping_loader_lake_compacted_days_total", map[string]string{"result": "compacted"}); got != 1 {
		t.Errorf("compacted days = %v, want 1", got)
	}
	pings, _, err := lake.ReadDir(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	if len(pings) != 3+5+5 {
		t.Errorf("%d ping rows, want 3 on the compacted day and 5 on each other", len(pings))
	}
	c.once(ctx) // a compacted day is skipped
	if got := testinfra.Metric(t, reg, "serviceping_loader_lake_compacted_days_total", map[string]string{"result": "compacted"}); got != 1 {
		t.Errorf("compacted days after a second round = %v, want still 1", got)
	}
}
