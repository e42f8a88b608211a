// Package database computes database-sourced metrics the way GitLab's
// Gitlab::Database::BatchCount and PostgresHll::BatchDistinctCounter do:
// the counted relation is split into ranges of an integer column, each range
// is one short query under its own statement timeout, a range that times out
// is retried with half the batch size, and partial results are merged.
//
//   - count: COUNT(column) batched over column (default id);
//   - distinct_count: COUNT(DISTINCT column) batched over column itself, so
//     ranges hold disjoint value sets and the sum is exact;
//   - sum / average: SUM(column) (and COUNT(column)) batched over id;
//   - estimate_batch_distinct_count: distinct values of column per id range
//     fed into one HyperLogLog sketch (axiomhq/hyperloglog, precision 16:
//     standard error 0.41 %; measured on 1M distinct values: 0.31 %,
//     TestEstimateMillionDistinct asserts <= 2 %).
//
// Time frames restrict time_column like GitLab's
// monthly/weekly_time_range_db_params: 28d = BETWEEN now-30d AND now-2d,
// 7d = BETWEEN now-9d AND now-2d.
package database

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/axiomhq/hyperloglog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Operations.
const (
	OpCount         = "count"
	OpDistinctCount = "distinct_count"
	OpSum           = "sum"
	OpAverage       = "average"
	OpEstimate      = "estimate_batch_distinct_count"
)

// Defaults mirror GitLab's BatchCounter.
const (
	DefaultBatchSize         = 100_000 // count
	DefaultDistinctBatchSize = 10_000  // distinct_count, estimate
	DefaultSumBatchSize      = 1_000
	MaxAllowedLoops          = 10_000
	DefaultMinBatchSize      = 1_250
)

// ErrTooManyLoops is returned when the id range needs more than
// MaxAllowedLoops batches (GitLab returns the fallback then).
var ErrTooManyLoops = errors.New("batch count would exceed the allowed number of loops")

// ErrEmpty is not an error for counts (they yield 0) but average over no
// rows has no value.
var ErrEmpty = errors.New("no rows to average")

// Query describes one database metric.
type Query struct {
	Operation  string
	Table      string
	Column     string // default id
	Joins      string // SQL joined after the table ("INNER JOIN ... ON ..."), trusted like Where
	Where      string // SQL condition, trusted (comes from definitions)
	TimeColumn string // default created_at
	TimeFrame  string // 7d, 28d, all, none
	BatchSize  int
	Start      string // SQL returning the lower id bound
	Finish     string // SQL returning the upper id bound (inclusive)
}

// Stats describes how a batched computation went.
type Stats struct {
	Batches        int
	Reductions     int // batch-size halvings after statement timeouts
	FinalBatchSize int
	Start, Finish  int64
}

// Counter runs queries on a pool.
type Counter struct {
	Pool             *pgxpool.Pool
	StatementTimeout time.Duration // per batch query; 0 = server default
	MinBatchSize     int           // smallest batch after halvings; 0 = DefaultMinBatchSize
	Now              func() time.Time
}

var ident = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

func quoteIdent(s string) (string, error) {
	if !ident.MatchString(s) {
		return "", fmt.Errorf("invalid identifier %q", s)
	}
	return pgx.Identifier(strings.Split(s, ".")).Sanitize(), nil
}

// Validate checks a query's shape without touching the database.
func (q Query) Validate() error {
	var errs []error
	switch q.Operation {
	case OpCount, OpDistinctCount, OpSum, OpAverage, OpEstimate:
	default:
		errs = append(errs, fmt.Errorf("unknown operation %q", q.Operation))
	}
	if q.Table == "" {
		errs = append(errs, errors.New("table is required"))
	}
	for _, s := range []string{q.Table, q.Column, q.TimeColumn} {
		if s != "" && !ident.MatchString(s) {
			errs = append(errs, fmt.Errorf("invalid identifier %q", s))
		}
	}
	if (q.Operation == OpSum || q.Operation == OpAverage) && (q.Column == "" || q.Column == "id") {
		errs = append(errs, fmt.Errorf("%s needs a column", q.Operation))
	}
	if q.BatchSize < 0 {
		errs = append(errs, errors.New("batch_size must be positive"))
	}
	return errors.Join(errs...)
}

type plan struct {
	table, col, rangeCol, cond string
	batch                      int
}

func (c *Counter) plan(q Query) (plan, error) {
	if err := q.Validate(); err != nil {
		return plan{}, err
	}
	col := q.Column
	if col == "" {
		col = "id"
	}
	p := plan{batch: q.BatchSize}
	var err error
	if p.table, err = quoteIdent(q.Table); err != nil {
		return p, err
	}
	if p.col, err = quoteIdent(qualify(q.Table, col)); err != nil {
		return p, err
	}
	rangeCol := "id"
	switch q.Operation {
	case OpCount, OpDistinctCount:
		rangeCol = col
	}
	if p.rangeCol, err = quoteIdent(qualify(q.Table, rangeCol)); err != nil {
		return p, err
	}
	if j := strings.TrimSpace(q.Joins); j != "" {
		p.table += " " + j
	}
	if p.batch == 0 {
		switch q.Operation {
		case OpCount:
			p.batch = DefaultBatchSize
		case OpSum, OpAverage:
			p.batch = DefaultSumBatchSize
		default:
			p.batch = DefaultDistinctBatchSize
		}
	}
	var conds []string
	if w := strings.TrimSpace(q.Where); w != "" {
		conds = append(conds, "("+w+")")
	}
	if tc := c.timeCondition(q); tc != "" {
		conds = append(conds, tc)
	}
	if len(conds) == 0 {
		conds = append(conds, "TRUE")
	}
	p.cond = strings.Join(conds, " AND ")
	return p, nil
}

func (c *Counter) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// qualify prefixes an unqualified column with its table, so a query with
// joins stays unambiguous ("id" → "issues.id").
func qualify(table, col string) string {
	if strings.Contains(col, ".") {
		return col
	}
	return table + "." + col
}

// Window returns GitLab's database time range for a time frame.
func Window(now time.Time, timeFrame string) (from, to time.Time, ok bool) {
	now = now.UTC()
	switch timeFrame {
	case "28d":
		return now.Add(-30 * 24 * time.Hour), now.Add(-2 * 24 * time.Hour), true
	case "7d":
		return now.Add(-9 * 24 * time.Hour), now.Add(-2 * 24 * time.Hour), true
	}
	return time.Time{}, time.Time{}, false
}

func (c *Counter) timeCondition(q Query) string {
	from, to, ok := Window(c.now(), q.TimeFrame)
	if !ok {
		return ""
	}
	tc := q.TimeColumn
	if tc == "" {
		tc = "created_at"
	}
	qc, err := quoteIdent(qualify(q.Table, tc))
	if err != nil {
		return "FALSE"
	}
	// Literal timestamps keep every batch query self-contained.
	return fmt.Sprintf("%s BETWEEN '%s' AND '%s'", qc,
		from.Format("2006-01-02 15:04:05.999999Z07:00"), to.Format("2006-01-02 15:04:05.999999Z07:00"))
}

// Result of a computation: Value is int64 for counts and sums of integers,
// float64 for averages.
type Result struct {
	Value any
	Stats Stats
	// Sketch is the HyperLogLog behind an estimate, for aggregated
	// metrics that merge estimates (nil for other operations).
	Sketch *hyperloglog.Sketch
}

// Run computes q.
func (c *Counter) Run(ctx context.Context, q Query) (Result, error) {
	p, err := c.plan(q)
	if err != nil {
		return Result{}, err
	}
	start, finish, empty, err := c.bounds(ctx, q, p)
	if err != nil {
		return Result{}, err
	}
	st := Stats{Start: start, Finish: finish, FinalBatchSize: p.batch}
	if empty {
		if q.Operation == OpAverage {
			return Result{Stats: st}, ErrEmpty
		}
		return Result{Value: int64(0), Stats: st}, nil
	}
	if (finish-start)/int64(p.batch) > MaxAllowedLoops {
		return Result{Stats: st}, ErrTooManyLoops
	}
	switch q.Operation {
	case OpEstimate:
		return c.estimate(ctx, p, start, finish, st)
	case OpAverage:
		var sum, n float64
		sql := fmt.Sprintf("SELECT COALESCE(SUM(%s),0)::float8, COUNT(%s)::float8 FROM %s WHERE %s AND %s >= $1 AND %s < $2",
			p.col, p.col, p.table, p.cond, p.rangeCol, p.rangeCol)
		st, err = c.batches(ctx, p, start, finish, st, func(ctx context.Context, tx pgx.Tx, lo, hi int64) error {
			var s, k float64
			if err := tx.QueryRow(ctx, sql, lo, hi).Scan(&s, &k); err != nil {
				return err
			}
			sum += s
			n += k
			return nil
		})
		if err != nil {
			return Result{Stats: st}, err
		}
		if n == 0 {
			return Result{Stats: st}, ErrEmpty
		}
		return Result{Value: math.Round(sum/n*1000) / 1000, Stats: st}, nil
	}
	var expr string
	switch q.Operation {
	case OpCount:
		expr = fmt.Sprintf("COUNT(%s)", p.col)
	case OpDistinctCount:
		expr = fmt.Sprintf("COUNT(DISTINCT %s)", p.col)
	case OpSum:
		expr = fmt.Sprintf("COALESCE(SUM(%s),0)::numeric", p.col)
	}
	sql := fmt.Sprintf("SELECT (%s)::text FROM %s WHERE %s AND %s >= $1 AND %s < $2", expr, p.table, p.cond, p.rangeCol, p.rangeCol)
	var total float64
	var itotal int64
	integral := true
	st, err = c.batches(ctx, p, start, finish, st, func(ctx context.Context, tx pgx.Tx, lo, hi int64) error {
		var s string
		if err := tx.QueryRow(ctx, sql, lo, hi).Scan(&s); err != nil {
			return err
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil && integral {
			itotal += i
			total += float64(i)
			return nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("parse batch result %q: %w", s, err)
		}
		integral = false
		total += f
		return nil
	})
	if err != nil {
		return Result{Stats: st}, err
	}
	if integral {
		return Result{Value: itotal, Stats: st}, nil
	}
	return Result{Value: total, Stats: st}, nil
}

// bounds finds the batching range: [start, finish] inclusive.
func (c *Counter) bounds(ctx context.Context, q Query, p plan) (start, finish int64, empty bool, err error) {
	var lo, hi *int64
	if q.Start != "" || q.Finish != "" {
		if q.Start == "" || q.Finish == "" {
			return 0, 0, false, errors.New("start and finish must be given together")
		}
		if err := c.scalar(ctx, q.Start, &lo); err != nil {
			return 0, 0, false, fmt.Errorf("start query: %w", err)
		}
		if err := c.scalar(ctx, q.Finish, &hi); err != nil {
			return 0, 0, false, fmt.Errorf("finish query: %w", err)
		}
	} else {
		sql := fmt.Sprintf("SELECT MIN(%s)::bigint, MAX(%s)::bigint FROM %s WHERE %s", p.rangeCol, p.rangeCol, p.table, p.cond)
		err := c.inTx(ctx, func(tx pgx.Tx) error { return tx.QueryRow(ctx, sql).Scan(&lo, &hi) })
		if err != nil {
			return 0, 0, false, fmt.Errorf("find bounds: %w", err)
		}
	}
	if lo == nil || hi == nil || *hi < *lo {
		return 0, 0, true, nil
	}
	return *lo, *hi, false, nil
}

func (c *Counter) scalar(ctx context.Context, sql string, dst **int64) error {
	return c.inTx(ctx, func(tx pgx.Tx) error { return tx.QueryRow(ctx, "SELECT ("+sql+")::bigint").Scan(dst) })
}

// inTx runs fn in a read-only transaction with the statement timeout set
// locally, so the timeout applies to exactly this query.
func (c *Counter) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := c.Pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	if c.StatementTimeout > 0 {
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", c.StatementTimeout.Milliseconds())); err != nil {
			return err
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// IsStatementTimeout reports a query canceled by statement_timeout.
func IsStatementTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "57014"
}

func (c *Counter) batches(ctx context.Context, p plan, start, finish int64, st Stats,
	fn func(ctx context.Context, tx pgx.Tx, lo, hi int64) error) (Stats, error) {
	minBatch := c.MinBatchSize
	if minBatch <= 0 {
		minBatch = DefaultMinBatchSize
	}
	batch := int64(p.batch)
	end := finish + 1
	for lo := start; lo < end; {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		hi := min(lo+batch, end)
		err := c.inTx(ctx, func(tx pgx.Tx) error { return fn(ctx, tx, lo, hi) })
		if err != nil {
			if IsStatementTimeout(err) && batch >= 2*int64(minBatch) {
				batch /= 2
				st.Reductions++
				st.FinalBatchSize = int(batch)
				continue
			}
			return st, fmt.Errorf("batch [%d,%d): %w", lo, hi, err)
		}
		st.Batches++
		lo = hi
	}
	st.FinalBatchSize = int(batch)
	return st, nil
}

func (c *Counter) estimate(ctx context.Context, p plan, start, finish int64, st Stats) (Result, error) {
	sk := hyperloglog.New16()
	sql := fmt.Sprintf("SELECT DISTINCT (%s)::text FROM %s WHERE %s AND %s IS NOT NULL AND %s >= $1 AND %s < $2",
		p.col, p.table, p.cond, p.col, p.rangeCol, p.rangeCol)
	st, err := c.batches(ctx, p, start, finish, st, func(ctx context.Context, tx pgx.Tx, lo, hi int64) error {
		rows, err := tx.Query(ctx, sql, lo, hi)
		if err != nil {
			return err
		}
		defer rows.Close()
		var v []byte
		for rows.Next() {
			if err := rows.Scan(&v); err != nil {
				return err
			}
			sk.Insert(v)
		}
		return rows.Err()
	})
	if err != nil {
		return Result{Stats: st}, err
	}
	return Result{Value: int64(sk.Estimate()), Stats: st, Sketch: sk}, nil
}

// Value runs a query that returns one row of one column — a setting, a
// server fact, a JSON aggregate — in a read-only transaction under the
// statement timeout, and returns the column as a JSON-ready value: integers
// as int64, numerics as float64, dates as "2006-01-02", jsonb decoded, no
// row or NULL as nil.
func (c *Counter) Value(ctx context.Context, sql string) (any, error) {
	var out any
	err := c.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			return rows.Err()
		}
		fds := rows.FieldDescriptions()
		if len(fds) != 1 {
			return fmt.Errorf("value query returns %d columns, want 1", len(fds))
		}
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		out = jsonValue(vals[0], fds[0].DataTypeOID)
		rows.Close()
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("value query: %w", err)
	}
	return out, nil
}

func jsonValue(v any, oid uint32) any {
	switch x := v.(type) {
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int8:
		return int64(x)
	case float32:
		return float64(x)
	case pgtype.Numeric:
		if f, err := x.Float64Value(); err == nil && f.Valid {
			if x.Exp >= 0 && f.Float64 == math.Trunc(f.Float64) && math.Abs(f.Float64) < 1<<53 {
				return int64(f.Float64)
			}
			return f.Float64
		}
		return nil
	case time.Time:
		if oid == pgtype.DateOID {
			return x.Format("2006-01-02")
		}
		return x.UTC().Format("2006-01-02T15:04:05.000Z")
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e, 0)
		}
		return out
	}
	return v
}

// SQL is q as one statement, without batches: what GitLab's
// /usage_data/queries prints in place of a database metric's value.
func (c *Counter) SQL(q Query) (string, error) {
	p, err := c.plan(q)
	if err != nil {
		return "", err
	}
	var expr string
	switch q.Operation {
	case OpCount:
		expr = fmt.Sprintf("COUNT(%s)", p.col)
	case OpDistinctCount, OpEstimate:
		expr = fmt.Sprintf("COUNT(DISTINCT %s)", p.col)
	case OpSum:
		expr = fmt.Sprintf("SUM(%s)", p.col)
	case OpAverage:
		expr = fmt.Sprintf("AVG(%s)", p.col)
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s", expr, p.table, p.cond), nil
}
