package chhttp_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkPrepareBatchSend measures rows/s of clickhouse-go HTTP batches of
// ping_metrics-like rows through the endpoint into a ReplacingMergeTree.
func BenchmarkPrepareBatchSend(b *testing.B) {
	db := database(b, "bench")
	conn := connect(b, db, nil)
	mustExec(b, conn, `CREATE TABLE ping_metrics (
		ping_id String,
		key_path LowCardinality(String),
		value Float64,
		value_string String,
		recorded_at DateTime64(3, 'UTC')
	) ENGINE = ReplacingMergeTree ORDER BY (ping_id, key_path)`)
	const rowsPerBatch = 50_000
	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = fmt.Sprintf("usage_activity_by_stage_monthly.plan.metric_%04d", i)
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO ping_metrics")
		if err != nil {
			b.Fatal(err)
		}
		for r := range rowsPerBatch {
			ping := fmt.Sprintf("%064x", i*rowsPerBatch/len(keys)+r/len(keys))
			if err := batch.Append(ping, keys[r%len(keys)], float64(r), "", at); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Send(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*rowsPerBatch)/b.Elapsed().Seconds(), "rows/s")
}
