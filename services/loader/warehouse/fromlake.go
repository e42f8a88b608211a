package warehouse

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/tables"
	"github.com/serviceping/serviceping/services/loader/lake"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// LakeFiles says how the ClickHouse server reads a lake file: the table
// function that reads the Parquet file at a lake key (lake.Key).
type LakeFiles interface {
	TableFunction(key string) string
}

// DirFiles reads a lake directory that the ClickHouse server sees at the
// same path — the embedded engine beside the loader — with file().
type DirFiles struct {
	// Root is the lake directory, absolute (lake.Dir.Root).
	Root string
}

// TableFunction is file('<root>/<key>', 'Parquet').
func (d DirFiles) TableFunction(key string) string {
	return "file(" + chconn.Quote(filepath.Join(d.Root, filepath.FromSlash(key))) + ", 'Parquet')"
}

// WriteFromLake inserts batch b, whose lake files are written and durable,
// by having the server read them (files): the rows cross no connection and
// are encoded once, by the lake. Its effect is Write's — for each of the
// batch's lake partitions the ping_metrics rows, then the devops_scores
// rows (sent, they are not in the lake), then the pings rows, so a ping row
// implies its metric and score rows — and it is as idempotent: each INSERT
// carries a deduplication token of the batch, table and partition (the
// server splits a file's rows by month itself and keys each part by its
// partition), and the file is read in order, so a retry forms the same
// blocks and is dropped by the server.
func (s *Sink) WriteFromLake(ctx context.Context, b rows.Batch, files LakeFiles) error {
	if len(b.Records) == 0 {
		return nil
	}
	digest := versionDigest(b)
	parts := b.Partitions()
	for _, p := range parts {
		if err := s.insertFile(ctx, tables.Metrics, metricsColumns, files, b.ID, p.DT, digest); err != nil {
			return err
		}
	}
	for _, m := range byMonth(b.Records) {
		if err := s.insertScores(ctx, b.ID, digest, m); err != nil {
			return err
		}
	}
	for _, p := range parts {
		if err := s.insertFile(ctx, tables.Pings, pingsColumns, files, b.ID, p.DT, digest); err != nil {
			return err
		}
	}
	return nil
}

// insertFile inserts the lake file of table for partition dt of a batch.
func (s *Sink) insertFile(ctx context.Context, table, columns string, files LakeFiles, batchID, dt, digest string) error {
	ctx = s.insertContext(ctx, Token(batchID, table, "dt="+dt, 0, digest), clickhouse.Settings{
		// The same file gives the same blocks in the same order, so a
		// retried insert is recognised block by block.
		"input_format_parquet_preserve_order": 1,
		"max_insert_threads":                  1,
		// A 500-ping batch is 1.3 M rows: squashed into blocks of at most
		// about a quarter of that, read by one thread, the insert holds
		// ~400 MB instead of ~600 MB (measured on the embedded engine).
		"max_threads":                 1,
		"min_insert_block_size_rows":  262144,
		"min_insert_block_size_bytes": 64 << 20,
	})
	key := lake.Key(table, dt, batchID)
	query := "INSERT INTO " + s.db + "." + table + " (" + columns + ") SELECT " + columns + " FROM " + files.TableFunction(key)
	if err := s.conn.Exec(ctx, query); err != nil {
		return Classify(fmt.Errorf("insert %s.%s from the lake file %s (batch %s): %w", s.db, table, key, batchID, err))
	}
	return nil
}
