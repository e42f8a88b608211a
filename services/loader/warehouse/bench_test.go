package warehouse_test

import (
	"context"
	"testing"

	"github.com/serviceping/serviceping/services/loader/rows"
	"github.com/serviceping/serviceping/services/loader/warehouse"
)

// BenchmarkWrite inserts batches of 50 full-size pings into ClickHouse
// through the embedded engine's HTTP endpoint; rows/s counts ping_metrics
// rows (the pings rows ride along).
func BenchmarkWrite(b *testing.B) {
	ctx := context.Background()
	s, err := warehouse.Open(ctx, chtestURL(b), warehouse.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	recs := benchRecords(b, 50)
	n := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range recs {
			recs[j].Ping.RowVersion = uint64(i + 1) // a new batch each time, not a deduplicated retry
		}
		batch := rows.NewBatch(recs)
		if err := s.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
		n += batch.NumMetrics()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
}
