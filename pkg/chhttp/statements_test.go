package chhttp_test

import (
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

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

func TestExternalTablesRefused(t *testing.T) {
	t.Parallel()
	// A multipart body with a file, as curl -F 'users=@users.tsv' sends it.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("users", "users.tsv")
	_, _ = fw.Write([]byte("1\tann\n"))
	_ = mw.WriteField("query", "SELECT count() FROM users")
	_ = mw.Close()
	res := do(t, http.MethodPost, q("users_structure", "id UInt32, name String"), &body, http.Header{"Content-Type": {mw.FormDataContentType()}})
	wantCode(t, res, http.StatusNotImplemented, "48", "External tables are not supported")

	// Parameters describing an external table, without the file.
	res = do(t, http.MethodPost, q("t_types", "UInt32", "t_format", "TSV"), strings.NewReader("SELECT 1"), nil)
	wantCode(t, res, http.StatusNotImplemented, "48", "External tables are not supported")
	// Settings that merely end like them are settings.
	if got := mustOK(t, do(t, http.MethodPost, q("allow_suspicious_low_cardinality_types", "1"), strings.NewReader("SELECT 2"), nil)); got != "2\n" {
		t.Fatalf("got %q", got)
	}

	// clickhouse-go's external tables.
	table, err := ext.NewTable("ext", ext.Column("id", "UInt32"))
	if err != nil {
		t.Fatal(err)
	}
	if err := table.Append(uint32(1)); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, "", nil)
	ctx := clickhouse.Context(context.Background(), clickhouse.WithExternalTable(table))
	rows, err := conn.Query(ctx, "SELECT count() FROM ext")
	if err == nil {
		rows.Close()
	}
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) || ex.Code != 48 || !strings.Contains(ex.Message, "External tables are not supported") {
		t.Fatalf("clickhouse-go external table: %v", err)
	}
}
