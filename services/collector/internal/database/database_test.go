package database

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/serviceping/serviceping/services/collector/internal/instancedb"
	"github.com/serviceping/serviceping/services/collector/internal/testdeps"
)

var ref = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

// fixture rows: id, grp, val, created_at offset (days), updated_at offset.
var fixture = []struct {
	id, grp, val     int
	created, updated int
}{
	{1, 1, 10, 1, 1}, {2, 1, 20, 3, 40}, {3, 2, 30, 5, 5}, {4, 2, 40, 8, 3},
	{5, 3, 50, 10, 8}, {6, 3, 60, 20, 25}, {7, 4, 70, 29, 4}, {8, 4, 80, 31, 20},
	{10, 5, 90, 45, 6}, {12, 5, 100, 60, 60}, {15, 6, 110, 2, 2}, {20, 1, 120, 9, 9},
}

func TestOperationsExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := testdeps.Postgres(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE ops (id bigint PRIMARY KEY, grp int, val int, created_at timestamptz, updated_at timestamptz)`); err != nil {
		t.Fatal(err)
	}
	for _, f := range fixture {
		if _, err := pool.Exec(ctx, `INSERT INTO ops VALUES ($1,$2,$3,$4,$5)`, f.id, f.grp, f.val,
			ref.Add(-time.Duration(f.created)*24*time.Hour), ref.Add(-time.Duration(f.updated)*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	c := &Counter{Pool: pool, Now: func() time.Time { return ref }, StatementTimeout: 5 * time.Second}
	tests := []struct {
		name string
		q    Query
		want any
	}{
		{"count", Query{Operation: OpCount, Table: "ops"}, int64(12)},
		{"count batch 1", Query{Operation: OpCount, Table: "ops", BatchSize: 1}, int64(12)},
		{"count where", Query{Operation: OpCount, Table: "ops", Where: "val > 55"}, int64(7)},
		{"distinct_count", Query{Operation: OpDistinctCount, Table: "ops", Column: "grp"}, int64(6)},
		{"distinct_count batch 2", Query{Operation: OpDistinctCount, Table: "ops", Column: "grp", BatchSize: 2}, int64(6)},
		{"sum", Query{Operation: OpSum, Table: "ops", Column: "val", BatchSize: 3}, int64(780)},
		{"average", Query{Operation: OpAverage, Table: "ops", Column: "val", BatchSize: 5}, 65.0},
		{"estimate", Query{Operation: OpEstimate, Table: "ops", Column: "grp", BatchSize: 4}, int64(6)},
		{"start finish", Query{Operation: OpCount, Table: "ops", Start: "SELECT 3", Finish: "SELECT 10"}, int64(7)},
		{"28d created_at", Query{Operation: OpCount, Table: "ops", TimeFrame: "28d"}, int64(8)},
		{"7d created_at", Query{Operation: OpCount, Table: "ops", TimeFrame: "7d"}, int64(5)},
		{"28d updated_at", Query{Operation: OpCount, Table: "ops", TimeFrame: "28d", TimeColumn: "updated_at"}, int64(9)},
		{"7d updated_at", Query{Operation: OpCount, Table: "ops", TimeFrame: "7d", TimeColumn: "updated_at"}, int64(7)},
		{"all ignores time", Query{Operation: OpCount, Table: "ops", TimeFrame: "all", TimeColumn: "updated_at"}, int64(12)},
		{"empty count", Query{Operation: OpCount, Table: "ops", Where: "false"}, int64(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Run(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if res.Value != tt.want {
				t.Fatalf("got %v (%T) want %v (%T)", res.Value, res.Value, tt.want, tt.want)
			}
		})
	}
	// The window expectations above, recomputed from the fixture in Go
	// (GitLab's ranges: 7d = 9..2 days ago, 28d = 30..2 days ago).
	want := map[string][2]int64{"7d": {5, 7}, "28d": {8, 9}}
	for tf, w := range want {
		from, to, _ := Window(ref, tf)
		var created, updated int64
		for _, f := range fixture {
			if ct := ref.Add(-time.Duration(f.created) * 24 * time.Hour); !ct.Before(from) && !ct.After(to) {
				created++
			}
			if ut := ref.Add(-time.Duration(f.updated) * 24 * time.Hour); !ut.Before(from) && !ut.After(to) {
				updated++
			}
		}
		if created != w[0] || updated != w[1] {
			t.Errorf("%s: fixture gives created_at %d, updated_at %d; table says %v", tf, created, updated, w)
		}
	}
}

func TestBatchCountEqualsPlainCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := testdeps.Postgres(t)
	if err := instancedb.Apply(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := instancedb.Seed(ctx, pool, instancedb.Size{Builds: 50_000}, ref); err != nil {
		t.Fatal(err)
	}
	c := &Counter{Pool: pool, Now: func() time.Time { return ref }}
	cases := []struct {
		q     Query
		plain string
	}{
		{Query{Operation: OpCount, Table: "ci_builds", Where: "status = 'failed'"}, "SELECT COUNT(*) FROM ci_builds WHERE status = 'failed'"},
		{Query{Operation: OpDistinctCount, Table: "ci_builds", Column: "user_id"}, "SELECT COUNT(DISTINCT user_id) FROM ci_builds"},
		{Query{Operation: OpSum, Table: "ci_pipelines", Column: "duration"}, "SELECT SUM(duration) FROM ci_pipelines"},
		{Query{Operation: OpCount, Table: "notes", TimeFrame: "28d"}, "SELECT COUNT(*) FROM notes WHERE created_at BETWEEN $1::timestamptz - interval '30 days' AND $1::timestamptz - interval '2 days'"},
		{Query{Operation: OpDistinctCount, Table: "issues", Column: "author_id", TimeFrame: "7d", TimeColumn: "updated_at"}, "SELECT COUNT(DISTINCT author_id) FROM issues WHERE updated_at BETWEEN $1::timestamptz - interval '9 days' AND $1::timestamptz - interval '2 days'"},
	}
	for _, cs := range cases {
		var want int64
		var args []any
		if cs.q.TimeFrame != "" {
			args = append(args, ref)
		}
		if err := pool.QueryRow(ctx, cs.plain, args...).Scan(&want); err != nil {
			t.Fatalf("%s: %v", cs.plain, err)
		}
		if want == 0 {
			t.Fatalf("%s: seed produced 0", cs.plain)
		}
		for _, bs := range []int{1_000, 7_777, 10_000, 100_000} {
			q := cs.q
			q.BatchSize = bs
			res, err := c.Run(ctx, q)
			if err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			if res.Value != want {
				t.Errorf("%s batch %d: got %v want %d (%d batches)", cs.plain, bs, res.Value, want, res.Stats.Batches)
			}
		}
	}
}

func TestTimeoutHalvesBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := testdeps.Postgres(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE slow AS SELECT i AS id FROM generate_series(1, 400) i; ALTER TABLE slow ADD PRIMARY KEY (id); ANALYZE slow`); err != nil {
		t.Fatal(err)
	}
	c := &Counter{Pool: pool, StatementTimeout: 120 * time.Millisecond, MinBatchSize: 10}
	// Each row costs ~1 ms, so only batches of < ~100 rows finish in time.
	res, err := c.Run(ctx, Query{Operation: OpCount, Table: "slow", Where: "pg_sleep(0.001) IS NOT NULL", BatchSize: 400, Start: "SELECT 1", Finish: "SELECT 400"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Value != int64(400) || res.Stats.Reductions == 0 || res.Stats.FinalBatchSize >= 400 {
		t.Fatalf("got %v stats %+v", res.Value, res.Stats)
	}
	t.Logf("stats %+v", res.Stats)
	// Below the minimum batch size the metric fails (fallback).
	c.MinBatchSize = 400
	if _, err := c.Run(ctx, Query{Operation: OpCount, Table: "slow", Where: "pg_sleep(0.001) IS NOT NULL", BatchSize: 400, Start: "SELECT 1", Finish: "SELECT 400"}); !IsStatementTimeout(err) {
		t.Fatalf("want statement timeout, got %v", err)
	}
}

func TestEstimateMillionDistinct(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := testdeps.Postgres(t)
	// 1.2M rows, 1M distinct author_id values (every 5th row repeats one).
	if _, err := pool.Exec(ctx, `CREATE TABLE big AS SELECT i::bigint AS id,
		(CASE WHEN i % 6 = 0 THEN i / 6 ELSE i - i / 6 END)::bigint * 7919 AS author_id
		FROM generate_series(1, 1200000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ALTER TABLE big ADD PRIMARY KEY (id)`); err != nil {
		t.Fatal(err)
	}
	var exact int64
	if err := pool.QueryRow(ctx, `SELECT COUNT(DISTINCT author_id) FROM big`).Scan(&exact); err != nil {
		t.Fatal(err)
	}
	if exact != 1_000_000 {
		t.Fatalf("fixture has %d distinct values", exact)
	}
	c := &Counter{Pool: pool}
	res, err := c.Run(ctx, Query{Operation: OpEstimate, Table: "big", Column: "author_id", BatchSize: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Value.(int64)
	relErr := math.Abs(float64(got-exact)) / float64(exact)
	t.Logf("estimate %d for %d distinct: relative error %.4f%% in %d batches", got, exact, relErr*100, res.Stats.Batches)
	// Stated error: 2 % (precision-14 HLL standard error 0.81 %, so this is ~2.5 sigma).
	if relErr > 0.02 {
		t.Fatalf("relative error %.4f exceeds 2%%", relErr)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, q := range []Query{
		{Operation: "median", Table: "x"},
		{Operation: OpCount},
		{Operation: OpCount, Table: "x; drop table y"},
		{Operation: OpSum, Table: "x"},
		{Operation: OpCount, Table: "x", TimeColumn: "a b"},
	} {
		if err := q.Validate(); err == nil {
			t.Errorf("%+v: want error", q)
		}
	}
}
