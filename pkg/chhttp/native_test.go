package chhttp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
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

// TestClickHouseGoNativeRevision reads a result of many blocks through
// clickhouse-go, which decodes it at its own revision (54460: block info, a
// serialization-kind byte per column, Dynamic and JSON in their V1 or
// flattened layout): every value of every block, Dynamic, Variant, JSON and
// LowCardinality included.
func TestClickHouseGoNativeRevision(t *testing.T) {
	t.Parallel()
	conn := connect(t, "", nil)
	const sql = `SELECT number, toDateTime(number, 'Asia/Tokyo') AS at, toLowCardinality(toString(number % 7)) AS lc,
		[toLowCardinality(toString(number))] AS lcs, if(number % 2 = 0, CAST(number, 'Dynamic'), CAST(concat('s', toString(number)), 'Dynamic')) AS dyn,
		if(number % 3 = 0, CAST(concat('s', toString(number)), 'Variant(String, UInt64)'), CAST(number, 'Variant(String, UInt64)')) AS var,
		CAST(concat('{"n": ', toString(number), ', "s": "x"}'), 'JSON(s String)') AS js
		FROM numbers(20000) ORDER BY number SETTINGS max_block_size = 1000`
	for _, flattened := range []bool{false, true} {
		ctx := context.Background()
		if flattened {
			ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
				"output_format_native_use_flattened_dynamic_and_json_serialization": 1}))
		}
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			t.Fatalf("flattened=%v: %v", flattened, err)
		}
		n := uint64(0)
		for ; rows.Next(); n++ {
			var (
				number uint64
				at     time.Time
				lc     string
				lcs    []string
				dyn    clickhouse.Dynamic
				vr     clickhouse.Variant
				js     clickhouse.JSON
			)
			if err := rows.Scan(&number, &at, &lc, &lcs, &dyn, &vr, &js); err != nil {
				t.Fatalf("flattened=%v, row %d: %v", flattened, n, err)
			}
			var wantDyn, wantVar any = n, fmt.Sprint("s", n)
			if n%2 == 1 {
				wantDyn = fmt.Sprint("s", n)
			}
			if n%3 != 0 {
				wantVar = n
			}
			paths := js.ValuesByPath()
			jsN, _ := paths["n"].(interface{ Any() any }) // a dynamic path's value
			if jsN == nil {
				t.Fatalf("flattened=%v, row %d: JSON path n is %#v", flattened, n, paths["n"])
			}
			if number != n || at.Unix() != int64(n) || at.Location().String() != "Asia/Tokyo" || lc != fmt.Sprint(n%7) ||
				len(lcs) != 1 || lcs[0] != fmt.Sprint(n) || dyn.Any() != wantDyn || vr.Any() != wantVar ||
				jsN.Any() != int64(n) || paths["s"] != "x" {
				t.Fatalf("flattened=%v, row %d: %d %v %q %q %#v %#v %#v", flattened, n, number, at, lc, lcs, dyn.Any(), vr.Any(), paths)
			}
		}
		if err := rows.Err(); err != nil || n != 20000 {
			t.Fatalf("flattened=%v: %d rows, %v", flattened, n, err)
		}
		_ = rows.Close()
	}
}

// clickhouse-go's client_protocol_version (54460).
const goRevision = proto.DBMS_TCP_PROTOCOL_VERSION

// nativeBlock splits a single-block, single-column Native answer at protocol
// revision rev into the column's name, type and data, checking the block
// info and serialization-kind byte the revision calls for.
func nativeBlock(t *testing.T, b []byte, rev uint64) (name, typ string, data []byte) {
	t.Helper()
	if rev > 0 {
		info := []byte{1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0}
		if !bytes.HasPrefix(b, info) {
			t.Fatalf("revision %d: no block info in %x", rev, b)
		}
		b = b[len(info):]
	}
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
	if cols := uvarint(); cols != 1 {
		t.Fatalf("nativeBlock reads one column, not %d", cols)
	}
	uvarint() // rows
	name, typ = str(), str()
	if rev >= 54454 {
		if b[off] != 0 {
			t.Fatalf("revision %d: serialization kind %d, want 0 (default)", rev, b[off])
		}
		off++
	}
	return name, typ, b[off:]
}

// TestNativeTypes compares, for every type the endpoint rewrites, its Native
// answer at clickhouse-go's revision with the engine's own Native (revision
// 0, asked without client_protocol_version, so passed through): same data,
// the type's full name as JSON reports it.
func TestNativeTypes(t *testing.T) {
	t.Parallel()
	flattened := []string{"output_format_native_use_flattened_dynamic_and_json_serialization", "1"}
	cases := []struct {
		expr     string
		settings []string
	}{
		{expr: "toUInt8(number)"}, {expr: "toInt256(number) - 1"}, {expr: "toUInt128(number)"},
		{expr: "toFloat32(number) / 3"}, {expr: "toFloat64(number)"},
		{expr: "toDate('2024-01-01') + number"}, {expr: "toDate32('1960-01-01') + number"},
		{expr: "toDateTime('2024-01-01 00:00:00') + number"}, {expr: "toDateTime('2024-01-01 00:00:00', 'Europe/Moscow') + number"},
		{expr: "toDateTime64('2024-01-01 00:00:00.123', 3) + number"}, {expr: "toDateTime64('2024-01-01 00:00:00', 6, 'UTC')"},
		{expr: "toString(number)"}, {expr: "toFixedString(toString(number), 3)"},
		{expr: "CAST(number % 2 + 1, 'Enum8(\\'a\\' = 1, \\'b\\' = 2)')"}, {expr: "CAST(1000, 'Enum16(\\'x y\\' = 1000, \\'it\\\\\\'s\\' = -3)')"},
		{expr: "toDecimal32(number, 2)"}, {expr: "toDecimal64(number, 4)"}, {expr: "toDecimal128(number, 10)"}, {expr: "toDecimal256(number, 20)"},
		{expr: "generateUUIDv4() != generateUUIDv4()"}, {expr: "toUUID('61f0c404-5cb3-11e7-907b-a6006ad3dba0')"},
		{expr: "toIPv4('1.2.3.4')"}, {expr: "toIPv6('::1')"}, {expr: "number % 2 = 0"}, {expr: "true"},
		{expr: "[toString(number), 'x']"}, {expr: "[[toNullable(toString(number)), NULL], []]"}, {expr: "(number, toString(number))"},
		{expr: "CAST((number, 'a'), 'Tuple(n UInt64, `s t` String)')"}, {expr: "map(toString(number), number)"},
		{expr: "CAST(map('k', [1, 2]), 'Map(LowCardinality(String), Array(UInt8))')"},
		{expr: "toLowCardinality(toString(number % 2))"}, {expr: "toLowCardinality(toNullable(if(number = 1, NULL, 'v')))"},
		{expr: "[toLowCardinality('a'), toLowCardinality(toString(number))]"}, {expr: "toNullable(toDecimal32(number, 2))"},
		{expr: "(1.5, 2.5)::Point"}, {expr: "[(1.5, 2.5)]::Ring"}, {expr: "[[(1.5, 2.5)]]::Polygon"}, {expr: "[[[(1.5, 2.5)]]]::MultiPolygon"},
		{expr: "toIntervalDay(number)"}, {expr: "NULL"}, {expr: "[NULL]"}, {expr: "toBFloat16(number)"},
		{expr: "CAST(concat('12:00:0', toString(number)), 'Time')"}, {expr: "[CAST(concat('-01:02:0', toString(number), '.123'), 'Time64(3)')]"},
		{expr: "CAST(number, 'SimpleAggregateFunction(sum, UInt64)')"},
		// Variant, Dynamic and JSON; Dynamic names its types in its data.
		{expr: "CAST(if(number = 1, toString(number), number), 'Variant(UInt64, String)')"},
		{expr: "if(number = 2, NULL, CAST(CAST([toString(number)], 'Array(LowCardinality(String))'), 'Variant(Array(LowCardinality(String)), UInt8)'))"},
		{expr: "multiIf(number = 0, CAST(number, 'Dynamic'), number = 1, CAST(toDateTime('2024-01-01 00:00:00', 'Asia/Tokyo'), 'Dynamic'), CAST(NULL, 'Dynamic'))"},
		{expr: "CAST([toLowCardinality(toString(number))], 'Dynamic(max_types=3)')"},
		{expr: "[CAST(number, 'Dynamic'), CAST(toString(number), 'Dynamic')]"},
		{expr: "CAST(concat('{\"a\": ', toString(number), ', \"b\": {\"c\": \"x\"}}'), 'JSON')"},
		{expr: "CAST(concat('{\"a\": ', toString(number), ', \"b\": [1], \"c\": \"y\", \"z\": 1}'), 'JSON(max_dynamic_paths=1, a UInt32, `x.y` String, SKIP z, SKIP REGEXP \\'^q\\')')"},
		{expr: "[CAST('{\"k\": [1, 2]}', 'JSON')]"},
		{expr: "multiIf(number = 0, CAST(number, 'Dynamic'), number = 1, CAST(toString(number), 'Dynamic'), CAST(NULL, 'Dynamic'))", settings: flattened},
		{expr: "CAST(concat('{\"a\": ', toString(number), ', \"b\": {\"c\": \"x\"}}'), 'JSON(a UInt32)')", settings: flattened},
		{expr: "CAST('{\"a\": 1}', 'JSON')", settings: []string{"output_format_native_write_json_as_string", "1"}},
		{expr: "CAST([number, 2, 3, 4], 'QBit(Float32, 4)')", settings: []string{"allow_experimental_qbit_type", "1"}},
		{expr: "CAST(range(1, 10), 'QBit(Float64, 9)')", settings: []string{"allow_experimental_qbit_type", "1"}},
		{expr: "[CAST([1, 2, 3], 'QBit(BFloat16, 3)')]", settings: []string{"allow_experimental_qbit_type", "1"}},
	}
	for _, c := range cases {
		sql := "SELECT " + c.expr + " AS c FROM numbers(3)"
		got := mustOK(t, do(t, http.MethodPost, q(append([]string{"default_format", "Native", "client_protocol_version", "54460"}, c.settings...)...), strings.NewReader(sql), nil))
		engine := mustOK(t, do(t, http.MethodPost, q(append([]string{"default_format", "Native"}, c.settings...)...), strings.NewReader(sql), nil))
		var meta struct{ Meta []struct{ Type string } }
		if err := json.Unmarshal([]byte(mustOK(t, do(t, http.MethodPost, q(append([]string{"default_format", "JSON"}, c.settings...)...), strings.NewReader(sql), nil))), &meta); err != nil {
			t.Fatalf("%s: JSON: %v", c.expr, err)
		}
		_, typ, data := nativeBlock(t, []byte(got), goRevision)
		_, engineType, engineData := nativeBlock(t, []byte(engine), 0)
		if typ != meta.Meta[0].Type {
			t.Errorf("%s: type %q, want %q", c.expr, typ, meta.Meta[0].Type)
		}
		if !bytes.Equal(data, engineData) {
			t.Errorf("%s: data differs from the engine's (types %q / %q):\n%x\n%x", c.expr, typ, engineType, data, engineData)
		}
	}

	// A type whose data the endpoint does not know is refused above
	// revision 0, and comes as the engine writes it at revision 0.
	agg := "SELECT initializeAggregation('sumState', number) AS c FROM numbers(3)"
	r := do(t, http.MethodPost, q("default_format", "Native", "client_protocol_version", "54460"), strings.NewReader(agg), nil)
	if r.status != http.StatusNotImplemented || r.header.Get("X-ClickHouse-Exception-Code") != "48" || !strings.Contains(r.body, "protocol revision 54460") {
		t.Errorf("AggregateFunction at revision 54460: status %d, code %q: %s", r.status, r.header.Get("X-ClickHouse-Exception-Code"), r.body)
	}
	if _, typ, _ := nativeBlock(t, []byte(mustOK(t, do(t, http.MethodPost, q("default_format", "Native"), strings.NewReader(agg), nil))), 0); typ != "AggregateFunction(sum, UInt64)" {
		t.Errorf("AggregateFunction at revision 0: type %q", typ)
	}
}

// TestNativeRevisions checks the block layout at each protocol revision
// that changes it, against the engine's own Native (revision 0): block info
// from revision 1, a top-level DateTime's zone from 54337, LowCardinality
// from 54405 (plain below it, but not at 0), a serialization-kind byte from
// 54454; revisions above the endpoint's newest (54472) get that one. It
// also checks clickhouse-go's server-info query, which reports the revision
// the endpoint writes at.
func TestNativeRevisions(t *testing.T) {
	t.Parallel()
	sql := "SELECT toDateTime(1676369730, 'Asia/Shanghai') AS dt, toLowCardinality('a') AS lc FORMAT Native"
	engine := mustOK(t, do(t, http.MethodPost, nil, strings.NewReader(sql), nil))
	// clickhouse-connect's test_protocol_version expects exactly this at
	// revision 0, as ClickHouse writes it.
	head := "\x02\x01\x02dt\x08DateTime\x42\x5f\xeb\x63\x02lc\x16LowCardinality(String)"
	if !strings.HasPrefix(engine, head) {
		t.Fatalf("engine's Native %x, want it to start with %x", engine, head)
	}
	lcData := engine[len(head):]
	for _, c := range []struct {
		param string
		rev   uint64 // the revision written
	}{
		{"", 0}, {"0", 0}, {"1", 1}, {"54336", 54336}, {"54337", 54337}, {"54404", 54404}, {"54405", 54405},
		{"54453", 54453}, {"54454", 54454}, {"54460", 54460}, {"54472", 54472}, {"54473", 54472}, {"99999999", 54472},
	} {
		var want []byte
		if c.rev > 0 {
			want = append(want, 1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0)
		}
		want = append(want, 2, 1)
		column := func(name, typ, data string) {
			want = append(want, byte(len(name)))
			want = append(want, name...)
			want = append(want, byte(len(typ)))
			want = append(want, typ...)
			if c.rev >= 54454 {
				want = append(want, 0)
			}
			want = append(want, data...)
		}
		if c.rev >= 54337 {
			column("dt", "DateTime('Asia/Shanghai')", "\x42\x5f\xeb\x63")
		} else {
			column("dt", "DateTime", "\x42\x5f\xeb\x63")
		}
		if c.rev == 0 || c.rev >= 54405 {
			column("lc", "LowCardinality(String)", lcData)
		} else {
			column("lc", "String", "\x01a")
		}
		got := mustOK(t, do(t, http.MethodPost, q("client_protocol_version", c.param), strings.NewReader(sql), nil))
		if got != string(want) {
			t.Errorf("client_protocol_version=%q: %x, want %x", c.param, got, want)
		}

		hello := mustOK(t, do(t, http.MethodPost, q("client_protocol_version", c.param, "default_format", "Native"),
			strings.NewReader("SELECT displayName(), version(), revision(), timezone()"), nil))
		at := strings.Index(hello, "\x0arevision()\x06UInt32")
		if at < 0 {
			t.Fatalf("client_protocol_version=%q: no revision() in the server-info answer %x", c.param, hello)
		}
		at += len("\x0arevision()\x06UInt32")
		if c.rev >= 54454 {
			at++
		}
		if got := binary.LittleEndian.Uint32([]byte(hello[at : at+4])); uint64(got) != c.rev {
			t.Errorf("client_protocol_version=%q: revision() = %d, want %d", c.param, got, c.rev)
		}
	}
	// Below 54405 LowCardinality is plain: the same column as the engine
	// writes for the expression without it, across nulls, arrays, tuples and
	// maps.
	for lc, plain := range map[string]string{
		"toLowCardinality(toString(number % 3))":                                        "toString(number % 3)",
		"[toLowCardinality(toNullable(if(number = 1, NULL, toString(number))))]":        "[toNullable(if(number = 1, NULL, toString(number)))]",
		"(number, toLowCardinality(toFixedString(toString(number % 2), 1)))":            "(number, toFixedString(toString(number % 2), 1))",
		"map(toLowCardinality(toString(number)), [toLowCardinality(toUInt32(number))])": "map(toString(number), [toUInt32(number)])",
	} {
		from := " AS c FROM numbers(5) FORMAT Native"
		_, typ, data := nativeBlock(t, []byte(mustOK(t, do(t, http.MethodPost, q("client_protocol_version", "54337"), strings.NewReader("SELECT "+lc+from), nil))), 54337)
		_, wantType, wantData := nativeBlock(t, []byte(mustOK(t, do(t, http.MethodPost, nil, strings.NewReader("SELECT "+plain+from), nil))), 0)
		if typ != wantType || !bytes.Equal(data, wantData) {
			t.Errorf("%s at 54337: %s %x, want %s %x", lc, typ, data, wantType, wantData)
		}
	}

	// The FORMAT clause is found behind a dollar-quoted parameter name.
	got := mustOK(t, do(t, http.MethodPost, q("client_protocol_version", "54405", "param_$x$", "user_1"), strings.NewReader("SELECT {$x$:String} AS v FORMAT Native"), nil))
	if want := "\x01\x00\x02\xff\xff\xff\xff\x00\x01\x01\x01v\x06String\x06user_1"; got != want {
		t.Errorf("{$x$:String} at 54405: %x, want %x", got, want)
	}
	r := do(t, http.MethodPost, q("client_protocol_version", "new"), strings.NewReader(sql), nil)
	if r.status != http.StatusBadRequest || r.header.Get("X-ClickHouse-Exception-Code") != "6" {
		t.Errorf("client_protocol_version=new: status %d, code %q: %s", r.status, r.header.Get("X-ClickHouse-Exception-Code"), r.body)
	}
}

// TestTimeZoneHeader: X-ClickHouse-Timezone is the server's time zone, or
// the request's session_timezone, as ClickHouse reports it.
func TestTimeZoneHeader(t *testing.T) {
	t.Parallel()
	server := strings.TrimSpace(mustOK(t, do(t, http.MethodPost, nil, strings.NewReader("SELECT timezone()"), nil)))
	r := do(t, http.MethodPost, nil, strings.NewReader("SELECT 1"), nil)
	if got := r.header.Get("X-ClickHouse-Timezone"); got != server || server == "" {
		t.Errorf("X-ClickHouse-Timezone = %q, want the server's %q", got, server)
	}
	r = do(t, http.MethodPost, q("session_timezone", "Asia/Tokyo"), strings.NewReader("SELECT timezone()"), nil)
	if got := r.header.Get("X-ClickHouse-Timezone"); got != "Asia/Tokyo" || strings.TrimSpace(r.body) != "Asia/Tokyo" {
		t.Errorf("with session_timezone: X-ClickHouse-Timezone = %q, timezone() = %q, want Asia/Tokyo", got, r.body)
	}
}
