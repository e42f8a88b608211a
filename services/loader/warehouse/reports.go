package warehouse

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/consume"
	"github.com/serviceping/serviceping/pkg/tables"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/rows"
)

const (
	errorsColumns  = "report_id, uuid, hostname, version, message, elapsed, time, received_at"
	timingsColumns = "report_id, uuid, received_at, metric, time_elapsed, error"
)

// report is what ErrorReport and MetricTimings share.
type report interface {
	GetReportId() string
	GetReceivedAt() *timestamppb.Timestamp
}

// reportKey identifies a report delivery: the same body received at the
// same time is one row, however often it is delivered.
type reportKey struct {
	id string
	at time.Time
}

func keyOf(r report) reportKey {
	return reportKey{r.GetReportId(), r.GetReceivedAt().AsTime().Truncate(time.Millisecond)}
}

// distinct drops repeated reports (same report_id and received_at) and
// orders the rest by that key, so the same reports batched in any order
// insert the same block under the same token.
func distinct[T report](in []T) []T {
	seen := make(map[reportKey]bool, len(in))
	out := make([]T, 0, len(in))
	for _, r := range in {
		if k := keyOf(r); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b T) int {
		return cmp.Or(cmp.Compare(a.GetReportId(), b.GetReportId()), a.GetReceivedAt().AsTime().Compare(b.GetReceivedAt().AsTime()))
	})
	return out
}

// reportDigest is a digest of the reports' keys: with the table and the
// part number it makes the insert_deduplication_token, so a retried or
// redelivered batch of the same reports is dropped by the server.
func reportDigest[T report](rs []T) string {
	h := sha256.New()
	var buf [8]byte
	for _, r := range rs {
		h.Write([]byte(r.GetReportId()))
		binary.BigEndian.PutUint64(buf[:], uint64(r.GetReceivedAt().AsTime().UnixNano()))
		h.Write(buf[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// WriteReports inserts b into ping_errors and ping_metric_timings. Each
// insert carries a token derived from its reports (report_id and
// received_at) and its part number, so writing the same reports again is a
// no-op within the tables' deduplication window; a report repeated inside
// b is written once. Errors are classified as Write's are.
func (s *Sink) WriteReports(ctx context.Context, b rows.ReportBatch) error {
	if err := writeNew(ctx, s, tables.Errors, b.Errors, s.insertErrors); err != nil {
		return err
	}
	return writeNew(ctx, s, tables.Timings, b.Timings, s.insertTimings)
}

// writeNew inserts with insert the distinct reports of rs that table does
// not hold yet, under their digest; nothing when there are none.
func writeNew[T report](ctx context.Context, s *Sink, table string, rs []T, insert func(context.Context, []T, string) error) error {
	rs, err := unloaded(ctx, s, table, distinct(rs))
	if err != nil || len(rs) == 0 {
		return err
	}
	return insert(ctx, rs, reportDigest(rs))
}

// unloaded drops the reports already in table (same report_id and
// received_at). Tokens only catch the same block sent again; this catches
// a report redelivered in a differently composed batch, so on a single
// server a report is one raw row however it is delivered. Reports are few
// (one per instance and week), so the lookup is cheap; its filter on
// received_at lets the server skip by partition and primary key.
func unloaded[T report](ctx context.Context, s *Sink, table string, rs []T) ([]T, error) {
	if len(rs) == 0 {
		return rs, nil
	}
	ids := make([]string, 0, len(rs))
	var ats []int64
	seenAt := map[int64]bool{}
	for _, r := range rs {
		ids = append(ids, r.GetReportId())
		if at := r.GetReceivedAt().AsTime().UnixMilli(); !seenAt[at] {
			seenAt[at] = true
			ats = append(ats, at)
		}
	}
	q, err := s.conn.Query(ctx, "SELECT DISTINCT report_id, toUnixTimestamp64Milli(received_at) FROM "+s.db+"."+table+
		" WHERE toUnixTimestamp64Milli(received_at) IN (?) AND report_id IN (?)", ats, ids)
	if err != nil {
		return nil, Classify(fmt.Errorf("look up loaded reports in %s.%s: %w", s.db, table, err))
	}
	defer q.Close()
	loaded := map[reportKey]bool{}
	for q.Next() {
		var id string
		var at int64
		if err := q.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("scan loaded reports of %s.%s: %w", s.db, table, err)
		}
		loaded[reportKey{id, time.UnixMilli(at).UTC()}] = true
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("look up loaded reports in %s.%s: %w", s.db, table, err)
	}
	out := rs[:0:0]
	for _, r := range rs {
		if !loaded[keyOf(r)] {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *Sink) insertErrors(ctx context.Context, rs []*servicepingv1.ErrorReport, digest string) error {
	for start, part := 0, 0; start < len(rs); start, part = start+s.maxRows, part+1 {
		end := min(start+s.maxRows, len(rs))
		batch, err := s.prepare(ctx, tables.Errors, errorsColumns, Token("reports", tables.Errors, "all", part, digest))
		if err != nil {
			return err
		}
		for _, r := range rs[start:end] {
			if err := batch.Append(r.GetReportId(), r.GetUuid(), r.GetHostname(), r.GetVersion(), r.GetMessage(),
				r.GetElapsed(), r.GetTime(), r.GetReceivedAt().AsTime()); err != nil {
				_ = batch.Abort()
				return consume.Permanent(fmt.Errorf("append ping_errors row of report %s: %w", r.GetReportId(), err))
			}
		}
		if err := s.send(batch, tables.Errors, "reports."+digest, "all", part, end-start); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) insertTimings(ctx context.Context, rs []*servicepingv1.MetricTimings, digest string) error {
	part, n := 0, 0
	var batch driver.Batch
	send := func() error {
		if batch == nil {
			return nil
		}
		err := s.send(batch, tables.Timings, "reports."+digest, "all", part, n)
		batch, n = nil, 0
		part++
		return err
	}
	for _, r := range rs {
		at := r.GetReceivedAt().AsTime()
		for _, m := range r.GetMetrics() {
			if batch == nil {
				var err error
				if batch, err = s.prepare(ctx, tables.Timings, timingsColumns, Token("reports", tables.Timings, "all", part, digest)); err != nil {
					return err
				}
			}
			if err := batch.Append(r.GetReportId(), r.GetUuid(), at, m.GetName(), m.GetTimeElapsed(), m.GetError()); err != nil {
				_ = batch.Abort()
				return consume.Permanent(fmt.Errorf("append ping_metric_timings row %s of report %s: %w", m.GetName(), r.GetReportId(), err))
			}
			if n++; n >= s.maxRows {
				if err := send(); err != nil {
					return err
				}
			}
		}
	}
	return send()
}
