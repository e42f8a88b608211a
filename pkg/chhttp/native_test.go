package chhttp_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestClickHouseGoTimeZones(t *testing.T) {
	t.Parallel()
	db := database(t, "tz")
	conn := connect(t, db, nil)
	ctx := context.Background()
	mustExec(t, conn, `CREATE TABLE events (
		id UInt32,
		at DateTime('Europe/Moscow'),
		at64 DateTime64(3, 'Asia/Tokyo'),
		maybe Nullable(DateTime('America/New_York')),
		many Array(DateTime('Europe/Moscow')),
		plain DateTime
	) ENGINE = MergeTree ORDER BY id`)
	at := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO events")
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.Append(uint32(1), at, at.Add(123*time.Millisecond), &at, []time.Time{at, at.Add(time.Hour)}, at); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}

	rows, err := conn.Query(ctx, "SELECT at, at64, maybe, many, plain, toDateTime('2024-01-02 03:04:05', 'Europe/Moscow') AS lit FROM events")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for _, ct := range rows.ColumnTypes() {
		names = append(names, ct.DatabaseTypeName())
	}
	want := "DateTime('Europe/Moscow') DateTime64(3, 'Asia/Tokyo') Nullable(DateTime('America/New_York')) Array(DateTime('Europe/Moscow')) DateTime DateTime('Europe/Moscow')"
	if strings.Join(names, " ") != want {
		t.Fatalf("column types %q, want %q", strings.Join(names, " "), want)
	}
	if !rows.Next() {
		t.Fatalf("no row: %v", rows.Err())
	}
	var got, got64, lit time.Time
	var maybe *time.Time
	var many []time.Time
	var plain time.Time
	if err := rows.Scan(&got, &got64, &maybe, &many, &plain, &lit); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		v    time.Time
		zone string
		at   time.Time
	}{
		{"at", got, "Europe/Moscow", at},
		{"at64", got64, "Asia/Tokyo", at.Add(123 * time.Millisecond)},
		{"maybe", *maybe, "America/New_York", at},
		{"many[1]", many[1], "Europe/Moscow", at.Add(time.Hour)},
		{"lit", lit, "Europe/Moscow", time.Date(2024, 1, 2, 0, 4, 5, 0, time.UTC)},
	} {
		if c.v.Location().String() != c.zone || !c.v.Equal(c.at) {
			t.Errorf("%s = %v (%s), want %v in %s", c.name, c.v, c.v.Location(), c.at, c.zone)
		}
	}
	if !plain.Equal(at) {
		t.Errorf("plain DateTime = %v, want %v", plain, at)
	}
}

// nativeBlock splits a single-block Native answer (revision 0) into its
// columns' names, types and data.
func nativeBlock(t *testing.T, b []byte) (names, types []string, data [][]byte) {
	t.Helper()
	off := 0
	uvarint := func() uint64 {
		v, n := binary.Uvarint(b[off:])
		if n <= 0 {
			t.Fatalf("bad varint at %d in %x", off, b)
		}
		off += n
		return v
	}
	str := func() string {
		n := int(uvarint())
		s := string(b[off : off+n])
		off += n
		return s
	}
	cols := int(uvarint())
	uvarint() // rows
	for range cols {
		names = append(names, str())
		types = append(types, str())
		// Single-column queries only: the rest is the column's data.
		data = append(data, b[off:])
		if cols > 1 {
			t.Fatal("nativeBlock reads one column")
		}
	}
	return names, types, data
}

// TestNativeTypes compares, for every type the endpoint rewrites, the Native
// answer with the engine's own Native (asked for explicitly, so passed
// through): same data, and the type's full name as JSON reports it.
func TestNativeTypes(t *testing.T) {
	t.Parallel()
	exprs := []string{
		"toUInt8(number)", "toInt256(number) - 1", "toUInt128(number)", "toFloat32(number) / 3", "toFloat64(number)",
		"toDate('2024-01-01') + number", "toDate32('1960-01-01') + number",
		"toDateTime('2024-01-01 00:00:00') + number", "toDateTime('2024-01-01 00:00:00', 'Europe/Moscow') + number",
		"toDateTime64('2024-01-01 00:00:00.123', 3) + number", "toDateTime64('2024-01-01 00:00:00', 6, 'UTC')",
		"toString(number)", "toFixedString(toString(number), 3)",
		"CAST(number % 2 + 1, 'Enum8(\\'a\\' = 1, \\'b\\' = 2)')", "CAST(1000, 'Enum16(\\'x y\\' = 1000, \\'it\\\\\\'s\\' = -3)')",
		"toDecimal32(number, 2)", "toDecimal64(number, 4)", "toDecimal128(number, 10)", "toDecimal256(number, 20)",
		"generateUUIDv4() != generateUUIDv4()", "toUUID('61f0c404-5cb3-11e7-907b-a6006ad3dba0')",
		"toIPv4('1.2.3.4')", "toIPv6('::1')", "number % 2 = 0", "true",
		"[toString(number), 'x']", "[[toNullable(toString(number)), NULL], []]", "(number, toString(number))",
		"CAST((number, 'a'), 'Tuple(n UInt64, `s t` String)')", "map(toString(number), number)",
		"CAST(map('k', [1, 2]), 'Map(LowCardinality(String), Array(UInt8))')",
		"toLowCardinality(toString(number % 2))", "toLowCardinality(toNullable(if(number = 1, NULL, 'v')))",
		"[toLowCardinality('a'), toLowCardinality(toString(number))]", "toNullable(toDecimal32(number, 2))",
		"(1.5, 2.5)::Point", "[(1.5, 2.5)]::Ring", "[[(1.5, 2.5)]]::Polygon", "[[[(1.5, 2.5)]]]::MultiPolygon",
		"toIntervalDay(number)", "NULL", "[NULL]",
		"CAST(number, 'SimpleAggregateFunction(sum, UInt64)')",
		// Not rewritten: the query runs again with the engine's own types.
		"initializeAggregation('sumState', number)", "CAST(number, 'Variant(UInt64, String)')", "CAST(number, 'Dynamic')",
	}
	for _, expr := range exprs {
		sql := "SELECT " + expr + " AS c FROM numbers(3)"
		got := mustOK(t, do(t, http.MethodPost, q("default_format", "Native"), strings.NewReader(sql), nil))
		engine := mustOK(t, do(t, http.MethodPost, q("default_format", "Native", "output_format_native_encode_types_in_binary_format", "0"), strings.NewReader(sql), nil))
		var meta struct{ Meta []struct{ Type string } }
		if err := json.Unmarshal([]byte(mustOK(t, do(t, http.MethodPost, q("default_format", "JSON"), strings.NewReader(sql), nil))), &meta); err != nil {
			t.Fatalf("%s: JSON: %v", expr, err)
		}
		_, types, data := nativeBlock(t, []byte(got))
		_, engineTypes, engineData := nativeBlock(t, []byte(engine))
		if types[0] != meta.Meta[0].Type {
			t.Errorf("%s: type %q, want %q", expr, types[0], meta.Meta[0].Type)
		}
		if string(data[0]) != string(engineData[0]) {
			t.Errorf("%s: data differs from the engine's (types %q / %q)", expr, types[0], engineTypes[0])
		}
	}
	// Several columns and blocks.
	sql := "SELECT number, toDateTime(number, 'Asia/Tokyo') AS d, [toString(number)] AS a FROM numbers(100000) ORDER BY number SETTINGS max_block_size = 1000"
	got := mustOK(t, do(t, http.MethodPost, q("default_format", "Native"), strings.NewReader(sql), nil))
	engine := mustOK(t, do(t, http.MethodPost, q("default_format", "Native", "output_format_native_encode_types_in_binary_format", "0"), strings.NewReader(sql), nil))
	if want := strings.ReplaceAll(engine, "\x01d\x08DateTime", "\x01d\x16DateTime('Asia/Tokyo')"); got != want {
		t.Fatalf("multi-block answer differs (%d bytes, want %d)", len(got), len(want))
	}
}
