package chhttp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
)

// wantCode checks a failed answer: status, X-ClickHouse-Exception-Code and
// the text, which must contain want.
func wantCode(t *testing.T, res httpResult, status int, code, want string) {
	t.Helper()
	if res.status != status || res.header.Get("X-ClickHouse-Exception-Code") != code ||
		!strings.HasPrefix(res.body, "Code: "+code+". DB::Exception: ") || !strings.Contains(res.body, want) {
		t.Fatalf("got %d, code %q: %q; want %d, code %s, containing %q", res.status, res.header.Get("X-ClickHouse-Exception-Code"), res.body, status, code, want)
	}
}

func TestMultiStatementsRejected(t *testing.T) {
	t.Parallel()
	db := database(t, "multi")
	for _, sql := range []string{
		"SELECT 1; SELECT 2",
		"SELECT 1;SELECT 2;",
		"CREATE TABLE t (x UInt8) ENGINE = Memory; SELECT 1",
		"SELECT 1; -- comment\nDROP DATABASE " + db,
		"SELECT ';'; SELEC 2",
	} {
		res := do(t, http.MethodPost, q("database", db), strings.NewReader(sql), nil)
		wantCode(t, res, http.StatusBadRequest, "62", "Multi-statements are not allowed")
	}
	// Nothing of them ran.
	if got := mustOK(t, do(t, http.MethodPost, q("database", db), strings.NewReader("SELECT count() FROM system.tables WHERE database = currentDatabase()"), nil)); got != "0\n" {
		t.Fatalf("a refused request created tables: %q", got)
	}
	// One statement, whatever its semicolons.
	for sql, want := range map[string]string{
		"SELECT 1;":              "1\n",
		"SELECT 1; ":             "1\n",
		"SELECT 1;\n-- trailing": "1\n",
		"SELECT 'a;b'":           "a;b\n",
		"SELECT $$c;d$$":         "c;d\n",
		"SELECT 1 /* ; */":       "1\n",
	} {
		if got := mustOK(t, do(t, http.MethodPost, nil, strings.NewReader(sql), nil)); got != want {
			t.Fatalf("%q: got %q, want %q", sql, got, want)
		}
	}
	// INSERT data is data, not statements.
	mustOK(t, do(t, http.MethodPost, q("database", db), strings.NewReader("CREATE TABLE s (v String) ENGINE = Memory"), nil))
	mustOK(t, do(t, http.MethodPost, q("database", db, "query", "INSERT INTO s FORMAT TSV"), strings.NewReader("a;b\nc; SELECT 2\n"), nil))

	// clickhouse-go reports ClickHouse's exception.
	conn := connect(t, "", nil)
	err := conn.Exec(context.Background(), "SELECT 1; SELECT 2")
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) || ex.Code != 62 || !strings.Contains(ex.Message, "Multi-statements are not allowed") {
		t.Fatalf("clickhouse-go: %v", err)
	}
}

// multipartTables is a multipart/form-data body with query and the files
// (form name, content); clickhouse-go sends its files with an empty filename.
func multipartTables(query string, files ...[2]string) (io.Reader, http.Header) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i, f := range files {
		filename := ""
		if i%2 == 0 {
			filename = f[0] + ".txt"
		}
		fw, _ := mw.CreateFormFile(f[0], filename)
		_, _ = fw.Write([]byte(f[1]))
	}
	_ = mw.WriteField("query", query)
	_ = mw.Close()
	return &body, http.Header{"Content-Type": {mw.FormDataContentType()}}
}

func TestExternalTables(t *testing.T) {
	t.Parallel()
	// As curl -F 'users=@users.tsv' -F 'roles=@roles.csv' sends them: one
	// table with a structure, one with types and a format.
	body, hdr := multipartTables("SELECT name, _2 FROM users JOIN roles ON users.id = roles._1 ORDER BY id",
		[2]string{"users", "1\tann\n2\tbob\n"}, [2]string{"roles", "1,admin\n2,guest\n"})
	res := do(t, http.MethodPost, q("users_structure", "id UInt32, name String", "roles_types", "UInt32,String", "roles_format", "CSV"), body, hdr)
	if got := mustOK(t, res); got != "ann\tadmin\nbob\tguest\n" {
		t.Fatalf("got %q", got)
	}
	// Types with commas inside, an empty table, the statement's settings
	// for reading the data, and a session: the tables are gone after the
	// statement, and the same names can be sent again.
	session := "external-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	temporary := func(names string) string {
		return mustOK(t, do(t, http.MethodPost, q("session_id", session), strings.NewReader(
			"SELECT count() FROM system.tables WHERE is_temporary AND name IN ("+names+")"), nil))
	}
	// The session's own temporary table is seen, and stays.
	mustOK(t, do(t, http.MethodPost, q("session_id", session), strings.NewReader("CREATE TEMPORARY TABLE keep (x UInt8)"), nil))
	for range 2 {
		body, hdr = multipartTables("SELECT sum(_1), count(), (SELECT count() FROM e) FROM d",
			[2]string{"d", "1.25\nbad\n2.50\n"}, [2]string{"e", ""})
		res = do(t, http.MethodPost, q("d_types", "Decimal(9, 2)", "e_structure", "x String", "session_id", session,
			"input_format_allow_errors_num", "1"), body, hdr)
		if got := mustOK(t, res); got != "3.75\t2\t0\n" {
			t.Fatalf("got %q", got)
		}
		if got := temporary("'d', 'e', 'keep'"); got != "1\n" {
			t.Fatalf("temporary tables d, e, keep in the session: %q, want only keep", got)
		}
	}
	// A file without columns, and columns without a file, are refused clearly.
	body, hdr = multipartTables("SELECT count() FROM users", [2]string{"users", "1\n"})
	wantCode(t, do(t, http.MethodPost, nil, body, hdr), http.StatusBadRequest, "36", "Neither structure nor types have been provided for external table users")
	res = do(t, http.MethodPost, q("t_types", "UInt32", "t_format", "TSV"), strings.NewReader("SELECT 1"), nil)
	wantCode(t, res, http.StatusBadRequest, "36", "t_types describes an external table t, but the request sends no file t")
	// Settings that merely end like them are settings.
	if got := mustOK(t, do(t, http.MethodPost, q("allow_suspicious_low_cardinality_types", "1"), strings.NewReader("SELECT 2"), nil)); got != "2\n" {
		t.Fatalf("got %q", got)
	}
	// A failing table leaves nothing behind either.
	body, hdr = multipartTables("SELECT count() FROM users", [2]string{"users", "x\n"})
	wantCode(t, do(t, http.MethodPost, q("users_types", "UInt32", "session_id", session), body, hdr), http.StatusBadRequest, "27", "")
	if got := temporary("'users'"); got != "0\n" {
		t.Fatalf("a failed external table left in the session: %q", got)
	}

	// clickhouse-go's external tables (Native, empty filenames).
	table, err := ext.NewTable("ext", ext.Column("id", "UInt32"), ext.Column("name", "String"))
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a", "b", "c"} {
		if err := table.Append(uint32(i+1), name); err != nil {
			t.Fatal(err)
		}
	}
	conn := connect(t, "", nil)
	ctx := clickhouse.Context(context.Background(), clickhouse.WithExternalTable(table))
	var sum uint64
	var names string
	if err := conn.QueryRow(ctx, "SELECT sum(id), arrayStringConcat(groupArray(name)) FROM (SELECT * FROM ext ORDER BY id)").Scan(&sum, &names); err != nil || sum != 6 || names != "abc" {
		t.Fatalf("clickhouse-go external table: %d %q %v", sum, names, err)
	}
}
