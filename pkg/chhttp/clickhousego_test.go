package chhttp_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

func TestClickHouseGoPingAndVersion(t *testing.T) {
	t.Parallel()
	conn := connect(t, "", nil)
	ctx := context.Background()
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	v, err := conn.ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	if v.Version.Major < 24 || v.DisplayName == "" || v.Timezone == nil {
		t.Fatalf("server version = %+v, want a modern ClickHouse with display name and timezone", v)
	}
	if v.Revision != proto.DBMS_TCP_PROTOCOL_VERSION {
		t.Fatalf("revision = %d, want clickhouse-go's own %d (the endpoint writes Native at the client's revision)", v.Revision, proto.DBMS_TCP_PROTOCOL_VERSION)
	}
}

// warehouseRow holds every column type the warehouse uses.
type warehouseRow struct {
	ID       string
	Key      string            // LowCardinality(String)
	Note     *string           // Nullable(String)
	Value    float64           // Float64
	Delta    int64             // Int64
	Count    uint64            // UInt64
	Flag     uint8             // UInt8
	Trial    bool              // Bool
	At       time.Time         // DateTime64(3, 'UTC')
	Day      time.Time         // Date
	Labels   map[string]string // Map(String, String)
	Tags     []string          // Array(String)
	Version  uint64            // ReplacingMergeTree version
	Original string
}

const warehouseDDL = `CREATE TABLE %s.metrics (
	id String,
	key LowCardinality(String),
	note Nullable(String),
	value Float64 CODEC(Gorilla, ZSTD(1)),
	delta Int64 CODEC(Delta, ZSTD(1)),
	count UInt64,
	flag UInt8,
	trial Bool,
	at DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
	day Date,
	labels Map(String, String),
	tags Array(String),
	version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (id, key)
SETTINGS non_replicated_deduplication_window = 1000`

// warehouseDB creates a database named after prefix with the warehouse's
// metrics table (warehouseDDL) and returns it and a clickhouse-go
// connection to the endpoint.
func warehouseDB(t *testing.T, prefix string) (string, driver.Conn) {
	t.Helper()
	db := database(t, prefix)
	conn := connect(t, db, nil)
	mustExec(t, conn, fmt.Sprintf(warehouseDDL, db))
	return db, conn
}

func sampleRows(n int, version uint64) []warehouseRow {
	base := time.Date(2024, 3, 4, 5, 6, 7, 123_000_000, time.UTC)
	rows := make([]warehouseRow, n)
	for i := range rows {
		var note *string
		if i%3 != 0 {
			s := fmt.Sprintf("note %d with 'quotes' and \t tabs and ünïcode", i)
			note = &s
		}
		rows[i] = warehouseRow{
			ID:      fmt.Sprintf("ping-%06d", i),
			Key:     fmt.Sprintf("counts.key_%d", i%17),
			Note:    note,
			Value:   float64(i) * 1.5,
			Delta:   int64(-i),
			Count:   uint64(i) * 1_000_000_007,
			Flag:    uint8(i % 256),
			Trial:   i%2 == 0,
			At:      base.Add(time.Duration(i) * time.Millisecond * 1001),
			Day:     time.Date(2024, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC),
			Labels:  map[string]string{"edition": "EE", "n": fmt.Sprint(i)},
			Tags:    []string{"a", fmt.Sprint(i)},
			Version: version,
		}
		if i%5 == 0 {
			rows[i].Labels = map[string]string{}
			rows[i].Tags = []string{}
		}
	}
	return rows
}

func insertRows(t testing.TB, ctx context.Context, conn clickhouse.Conn, table string, rows []warehouseRow) {
	t.Helper()
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table)
	if err != nil {
		t.Fatalf("prepare batch: %v", err)
	}
	for _, r := range rows {
		if err := batch.Append(r.ID, r.Key, r.Note, r.Value, r.Delta, r.Count, r.Flag, r.Trial, r.At, r.Day, r.Labels, r.Tags, r.Version); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatalf("send batch: %v", err)
	}
}

func TestClickHouseGoEveryWarehouseType(t *testing.T) {
	t.Parallel()
	_, conn := warehouseDB(t, "every_type")
	ctx := context.Background()

	want := sampleRows(1000, 1)
	insertRows(t, ctx, conn, "metrics", want)

	rows, err := conn.Query(ctx, "SELECT id, key, note, value, delta, count, flag, trial, at, day, labels, tags, version FROM metrics ORDER BY id")
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	defer rows.Close()
	var got []warehouseRow
	for rows.Next() {
		var r warehouseRow
		if err := rows.Scan(&r.ID, &r.Key, &r.Note, &r.Value, &r.Delta, &r.Count, &r.Flag, &r.Trial, &r.At, &r.Day, &r.Labels, &r.Tags, &r.Version); err != nil {
			t.Fatalf("scan: %v", err)
		}
		r.At, r.Day = r.At.UTC(), r.Day.UTC()
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	// Column types as the engine reports them to the client.
	types := rows.ColumnTypes()
	var names []string
	for _, ct := range types {
		names = append(names, ct.DatabaseTypeName())
	}
	wantTypes := "String LowCardinality(String) Nullable(String) Float64 Int64 UInt64 UInt8 Bool DateTime64(3, 'UTC') Date Map(String, String) Array(String) UInt64"
	if strings.Join(names, " ") != wantTypes {
		t.Fatalf("column types = %q, want %q", strings.Join(names, " "), wantTypes)
	}
}

func TestClickHouseGoLargeBatch(t *testing.T) {
	t.Parallel()
	_, conn := warehouseDB(t, "large_batch")
	ctx := context.Background()
	const n = 120_000
	insertRows(t, ctx, conn, "metrics", sampleRows(n, 1))
	if got := count(t, conn, "SELECT count() FROM metrics"); got != n {
		t.Fatalf("count = %d, want %d", got, n)
	}
	if got := count(t, conn, "SELECT uniqExact(id) FROM metrics"); got != n {
		t.Fatalf("distinct ids = %d, want %d", got, n)
	}
}

func TestClickHouseGoDeduplicationAndFinal(t *testing.T) {
	t.Parallel()
	_, conn := warehouseDB(t, "dedup")
	ctx := context.Background()
	rows := sampleRows(500, 1)

	withToken := func(tok string) context.Context {
		return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_deduplication_token": tok}))
	}
	insertRows(t, withToken("batch-1"), conn, "metrics", rows)
	insertRows(t, withToken("batch-1"), conn, "metrics", rows) // re-delivery: a no-op
	if got := count(t, conn, "SELECT count() FROM metrics"); got != 500 {
		t.Fatalf("count after repeated batch = %d, want 500", got)
	}

	// The same keys under another token land, and FINAL collapses them.
	insertRows(t, withToken("batch-2"), conn, "metrics", sampleRows(500, 2))
	if got := count(t, conn, "SELECT count() FROM metrics"); got != 1000 {
		t.Fatalf("count after second batch = %d, want 1000", got)
	}
	if got := count(t, conn, "SELECT count() FROM metrics FINAL"); got != 500 {
		t.Fatalf("count FINAL = %d, want 500", got)
	}
	if got := count(t, conn, "SELECT min(version) FROM metrics FINAL"); got != 2 {
		t.Fatalf("min(version) FINAL = %d, want 2 (the newest version wins)", got)
	}
	// The token must not stick to the connection: an insert without one is
	// not deduplicated against anything.
	insertRows(t, ctx, conn, "metrics", rows[:10])
	if got := count(t, conn, "SELECT count() FROM metrics"); got != 1010 {
		t.Fatalf("count after untokened batch = %d, want 1010", got)
	}
}

func TestClickHouseGoErrors(t *testing.T) {
	t.Parallel()
	conn := connect(t, "", nil)
	ctx := context.Background()
	tests := []struct {
		name string
		sql  string
		code int32
	}{
		{"syntax error", "SELEC 1", 62},
		{"unknown table", "SELECT * FROM no_such_table", 60},
		{"unknown database", "SELECT * FROM no_such_db.t", 81},
		{"unknown function", "SELECT no_such_function(1)", 46},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := conn.Query(ctx, tc.sql)
			if err == nil {
				rows.Close()
				t.Fatalf("query %q succeeded", tc.sql)
			}
			var ex *clickhouse.Exception
			if !errors.As(err, &ex) {
				t.Fatalf("error %v (%T) is not a *clickhouse.Exception", err, err)
			}
			if ex.Code != tc.code {
				t.Fatalf("code = %d, want %d (%v)", ex.Code, tc.code, err)
			}
			// Exec reports the same.
			err = conn.Exec(ctx, tc.sql)
			if !errors.As(err, &ex) || ex.Code != tc.code {
				t.Fatalf("exec error = %v, want code %d", err, tc.code)
			}
		})
	}
	// A failed insert reports the engine's error too.
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO no_such_table")
	if err == nil {
		_ = batch.Abort()
		t.Fatalf("prepare batch on a missing table succeeded")
	}
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) || ex.Code != 60 {
		t.Fatalf("prepare batch error = %v, want code 60", err)
	}
}

func TestClickHouseGoCompression(t *testing.T) {
	t.Parallel()
	db, _ := warehouseDB(t, "compression")
	methods := []clickhouse.CompressionMethod{
		clickhouse.CompressionLZ4, clickhouse.CompressionZSTD, clickhouse.CompressionGZIP,
		clickhouse.CompressionDeflate, clickhouse.CompressionBrotli,
	}
	ctx := context.Background()
	var total uint64
	for _, m := range methods {
		t.Run(m.String(), func(t *testing.T) {
			conn := connect(t, db, &clickhouse.Compression{Method: m})
			rows := sampleRows(3000, 1)
			for i := range rows {
				rows[i].ID = m.String() + rows[i].ID
			}
			insertRows(t, ctx, conn, "metrics", rows)
			total += uint64(len(rows))
			if got := count(t, conn, "SELECT count() FROM metrics WHERE startsWith(id, '"+m.String()+"')"); got != 3000 {
				t.Fatalf("count = %d, want 3000", got)
			}
			var tags []string
			var labels map[string]string
			if err := conn.QueryRow(ctx, "SELECT tags, labels FROM metrics WHERE id = ?", m.String()+"ping-000007").Scan(&tags, &labels); err != nil {
				t.Fatalf("query row: %v", err)
			}
			if !reflect.DeepEqual(tags, []string{"a", "7"}) || labels["n"] != "7" {
				t.Fatalf("tags %v labels %v", tags, labels)
			}
			// Errors still come back typed.
			err := conn.Exec(ctx, "SELECT * FROM no_such_table")
			var ex *clickhouse.Exception
			if !errors.As(err, &ex) || ex.Code != 60 {
				t.Fatalf("error = %v, want code 60", err)
			}
		})
	}
	if got := count(t, connect(t, db, nil), "SELECT count() FROM metrics"); got != total {
		t.Fatalf("total = %d, want %d", got, total)
	}
}

func TestClickHouseGoParameters(t *testing.T) {
	t.Parallel()
	conn := connect(t, "", nil)
	ctx := clickhouse.Context(context.Background(), clickhouse.WithParameters(clickhouse.Parameters{"n": "41", "s": "it's"}))
	var n uint64
	var s string
	if err := conn.QueryRow(ctx, "SELECT {n:UInt64} + 1, {s:String}").Scan(&n, &s); err != nil {
		t.Fatalf("query with parameters: %v", err)
	}
	if n != 42 || s != "it's" {
		t.Fatalf("got %d %q", n, s)
	}
	// Positional binding is done by the client.
	if err := conn.QueryRow(context.Background(), "SELECT toUInt64(?) + 1", 1).Scan(&n); err != nil || n != 2 {
		t.Fatalf("positional bind: %d %v", n, err)
	}
}
