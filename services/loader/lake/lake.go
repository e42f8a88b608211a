// Package lake writes loader batches as Parquet files in the lake layout of
// docs/contracts.md ("Lake (Parquet)") and reads them back:
//
//	<root>/pings/dt=YYYY-MM-DD/<batch>.parquet
//	<root>/ping_metrics/dt=YYYY-MM-DD/<batch>.parquet
//
// dt is the UTC date the ping was received (taken from the stored message,
// never the clock), and <batch> the batch ID, so writing the same batch
// again replaces the same files. The key and encoding functions are shared
// by every lake backend (the local directory here, S3 next).
package lake

import (
	"fmt"
	"io"
	"path"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/serviceping/serviceping/pkg/tables"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// Key is the slash-separated object key of a table's file for one
// partition of a batch, relative to the lake root: the table name
// (tables.Pings, tables.Metrics) is the first path element.
func Key(table, dt, batchID string) string {
	return path.Join(table, "dt="+dt, batchID+".parquet")
}

// metricsRowGroup bounds rows per row group (and so writer memory):
// about 100 full-size pings.
const metricsRowGroup = 1 << 18

func writerOptions(schema *parquet.Schema, batchID string) []parquet.WriterOption {
	return []parquet.WriterOption{
		schema,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}),
		parquet.CreatedBy("serviceping-loader", "v1", ""),
		parquet.KeyValueMetadata("serviceping.batch_id", batchID),
	}
}

// EncodePings writes the pings rows of recs as one Parquet file to w.
func EncodePings(w io.Writer, batchID string, recs []rows.Record) error {
	pw := parquet.NewGenericWriter[rows.Ping](w, writerOptions(PingsSchema(), batchID)...)
	buf := make([]rows.Ping, 0, min(len(recs), 256))
	for i := range recs {
		buf = append(buf, recs[i].Ping)
		if len(buf) == cap(buf) || i == len(recs)-1 {
			if _, err := pw.Write(buf); err != nil {
				return fmt.Errorf("encode pings rows: %w", err)
			}
			buf = buf[:0]
		}
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("close pings parquet: %w", err)
	}
	return nil
}

// EncodeMetrics writes the ping_metrics rows of recs as one Parquet file to w.
func EncodeMetrics(w io.Writer, batchID string, recs []rows.Record) error {
	opts := append(writerOptions(MetricsSchema(), batchID), parquet.MaxRowsPerRowGroup(metricsRowGroup))
	pw := parquet.NewGenericWriter[rows.Metric](w, opts...)
	var buf []rows.Metric
	for i := range recs {
		buf = recs[i].AppendMetrics(buf[:0])
		if _, err := pw.Write(buf); err != nil {
			return fmt.Errorf("encode ping_metrics rows of ping %s: %w", recs[i].Ping.PingID, err)
		}
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("close ping_metrics parquet: %w", err)
	}
	return nil
}

// PingsSchema is the Parquet schema of the pings files.
func PingsSchema() *parquet.Schema {
	return parquet.NewSchema(tables.Pings, parquet.SchemaOf(rows.Ping{}))
}

// MetricsSchema is the Parquet schema of the ping_metrics files.
func MetricsSchema() *parquet.Schema {
	return parquet.NewSchema(tables.Metrics, parquet.SchemaOf(rows.Metric{}))
}
