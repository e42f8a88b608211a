package chhttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/serviceping/serviceping/pkg/chhttp"
)

// The users of the locked endpoint the tests below serve.
const (
	writerName     = "loader"
	writerPassword = "w-secret-7f3a"
	readerName     = "analyst"
	readerPassword = "r-secret-91bc"
)

// lockedEndpoint serves the shared engine with a writer and a read-only
// user and returns its base URL.
func lockedEndpoint(t *testing.T) string {
	t.Helper()
	return serveEngine(t, chhttp.Options{Users: []chhttp.User{
		{Name: writerName, Password: writerPassword},
		{Name: readerName, Password: readerPassword, ReadOnly: true},
	}})
}

// credentials is how a request carries its user and password.
type credentials struct {
	how            string // "basic", "headers", "params" or "" (none)
	user, password string
}

func (c credentials) apply(req *http.Request) {
	switch c.how {
	case "basic":
		req.SetBasicAuth(c.user, c.password)
	case "headers":
		req.Header.Set("X-ClickHouse-User", c.user)
		req.Header.Set("X-ClickHouse-Key", c.password)
	case "params":
		q := req.URL.Query()
		q.Set("user", c.user)
		q.Set("password", c.password)
		req.URL.RawQuery = q.Encode()
	}
}

// send sends sql to base: with POST in the body, with GET in the query
// parameter.
func send(t *testing.T, base, method string, c credentials, params url.Values, sql string) httpResult {
	t.Helper()
	if params == nil {
		params = url.Values{}
	}
	var body io.Reader
	if method == http.MethodGet {
		params.Set("query", sql)
	} else {
		body = strings.NewReader(sql)
	}
	req := request(t, method, base, params, body)
	c.apply(req)
	return roundTrip(t, req)
}

// refused checks a ClickHouse error answer: status, code and the error's
// name in the text.
func refused(t *testing.T, r httpResult, status int, code, name string) {
	t.Helper()
	if r.status != status || r.header.Get("X-ClickHouse-Exception-Code") != code || !strings.Contains(r.body, "Code: "+code+".") || !strings.Contains(r.body, name) {
		t.Fatalf("got %d (code %q) %q; want %d, code %s, %s", r.status, r.header.Get("X-ClickHouse-Exception-Code"), r.body, status, code, name)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	base := lockedEndpoint(t)
	db := database(t, "auth_http")
	for _, how := range []string{"basic", "headers", "params"} {
		writer := credentials{how, writerName, writerPassword}
		if got := mustOK(t, send(t, base, http.MethodPost, writer, nil, "SELECT currentDatabase() = 'default', 1")); got != "1\t1\n" {
			t.Fatalf("writer by %s: %q", how, got)
		}
		reader := credentials{how, readerName, readerPassword}
		if got := mustOK(t, send(t, base, http.MethodPost, reader, nil, "SELECT getSetting('readonly')")); got != "1\n" {
			t.Fatalf("reader by %s runs with readonly %q, want 1", how, got)
		}
		for _, bad := range []credentials{
			{how, writerName, readerPassword}, // another user's password
			{how, writerName, ""},
			{how, "nobody", writerPassword},
			{how, "", writerPassword}, // "default"
		} {
			r := send(t, base, http.MethodPost, bad, url.Values{"database": {db}}, "SELECT 1")
			refused(t, r, http.StatusForbidden, "516", "AUTHENTICATION_FAILED")
			for _, secret := range []string{writerPassword, readerPassword} {
				if strings.Contains(r.body, secret) || strings.Contains(strings.Join(r.header.Values("X-ClickHouse-Exception-Code"), ""), secret) {
					t.Fatalf("the refusal of %+v shows a password: %q", bad, r.body)
				}
			}
		}
	}
	refused(t, send(t, base, http.MethodPost, credentials{}, nil, "SELECT 1"), http.StatusForbidden, "516", "AUTHENTICATION_FAILED")

	// One way at a time, as ClickHouse insists.
	both := send(t, base, http.MethodPost, credentials{"basic", writerName, writerPassword}, q("user", writerName, "password", writerPassword), "SELECT 1")
	refused(t, both, http.StatusForbidden, "516", "not allowed to use Authorization HTTP header and authentication via parameters simultaneously")

	// Liveness needs no credentials, as in ClickHouse.
	for _, path := range []string{"/ping", "/"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s without credentials: %d", path, res.StatusCode)
		}
	}
}

// TestReadOnly: GET is read-only for everyone (readonly=2: settings may
// change, nothing is written), the read-only user may only read (readonly=1),
// and the connections they used write again for the writer afterwards.
func TestReadOnly(t *testing.T) {
	t.Parallel()
	base := lockedEndpoint(t)
	db := database(t, "auth_readonly")
	writer := credentials{"basic", writerName, writerPassword}
	reader := credentials{"basic", readerName, readerPassword}
	in := url.Values{"database": {db}}
	post := func(c credentials, sql string, params ...string) httpResult {
		p := q(params...)
		p.Set("database", db)
		return send(t, base, http.MethodPost, c, p, sql)
	}
	mustOK(t, post(writer, "CREATE TABLE t (x UInt32) ENGINE = MergeTree ORDER BY x"))
	mustOK(t, post(writer, "INSERT INTO t VALUES (1), (2)"))

	t.Run("GET", func(t *testing.T) {
		if got := mustOK(t, send(t, base, http.MethodGet, writer, url.Values{"database": {db}}, "SELECT count(), getSetting('readonly') FROM t")); got != "2\t2\n" {
			t.Fatalf("GET SELECT: %q", got)
		}
		for _, sql := range []string{"INSERT INTO t VALUES (3)", "INSERT INTO t FORMAT CSV\n3\n", "CREATE TABLE u (x UInt8) ENGINE = Memory", "DROP TABLE t", "INSERT INTO t SELECT 3", "TRUNCATE TABLE t"} {
			r := send(t, base, http.MethodGet, writer, url.Values{"database": {db}}, sql)
			refused(t, r, http.StatusForbidden, "164", "READONLY")
		}
		r := send(t, base, http.MethodGet, writer, url.Values{"database": {db}}, "INSERT INTO t VALUES (3)")
		if !strings.Contains(r.body, "method GET implies readonly") {
			t.Fatalf("the GET refusal does not say why: %q", r.body)
		}
		// readonly=2 lets settings change; not readonly itself.
		if got := mustOK(t, send(t, base, http.MethodGet, writer, q("database", db, "max_threads", "3"), "SELECT getSetting('max_threads')")); got != "3\n" {
			t.Fatalf("GET with a setting: %q", got)
		}
		refused(t, send(t, base, http.MethodGet, writer, q("database", db, "readonly", "0"), "INSERT INTO t VALUES (3)"), http.StatusForbidden, "164", "READONLY")
		refused(t, send(t, base, http.MethodGet, writer, in, "INSERT INTO t SETTINGS readonly = DEFAULT VALUES (3)"), http.StatusForbidden, "164", "READONLY")
	})

	t.Run("read-only user", func(t *testing.T) {
		for _, sql := range []string{"SELECT count() FROM t", "SHOW TABLES", "DESCRIBE TABLE t", "EXISTS TABLE t", "EXPLAIN SELECT 1", "WITH 2 AS y SELECT y", "SELECT * FROM numbers(1)"} {
			mustOK(t, post(reader, sql))
		}
		mustOK(t, send(t, base, http.MethodGet, reader, url.Values{"database": {db}}, "SELECT count() FROM t"))
		for _, sql := range []string{
			"INSERT INTO t VALUES (3)",
			"INSERT INTO t FORMAT CSV\n3\n",
			"INSERT INTO t SELECT 3",
			"CREATE TABLE u (x UInt8) ENGINE = Memory",
			"CREATE TEMPORARY TABLE tmp (x UInt8)",
			"DROP TABLE t",
			"ALTER TABLE t DELETE WHERE 1",
			"OPTIMIZE TABLE t",
			"SYSTEM FLUSH LOGS",
			"KILL QUERY WHERE 0",
			"SELECT * FROM file('/etc/hostname', 'LineAsString')",
			"SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
			"SELECT 1 SETTINGS max_threads = 3",
			"SELECT 1 SETTINGS readonly = 0",
			"SELECT * FROM file('/etc/hostname', 'LineAsString') SETTINGS readonly = DEFAULT",
			"SELECT 1 SETTINGS max_memory_usage = DEFAULT",
			"SELECT 1 SETTINGS profile = 'default'",
			"SET max_threads = 3",
			"SET readonly = DEFAULT",
		} {
			refused(t, post(reader, sql), http.StatusForbidden, "164", "READONLY")
		}
		for setting, value := range map[string]string{"max_threads": "3", "readonly": "0", "max_result_rows": "0"} {
			refused(t, post(reader, "SELECT 1", setting, value), http.StatusForbidden, "164", "READONLY")
		}
		refused(t, post(reader, "SELECT 1", "profile", "default"), http.StatusForbidden, "164", "READONLY")

		// A session is its user's: the reader's is not the writer's of the
		// same id, and its SET changes nothing.
		id := "auth-session-" + db
		mustOK(t, post(writer, "CREATE TEMPORARY TABLE tmp (x UInt8)", "session_id", id))
		mustOK(t, post(writer, "INSERT INTO tmp VALUES (7)", "session_id", id))
		r := post(reader, "SELECT * FROM tmp", "session_id", id)
		if r.status == http.StatusOK {
			t.Fatalf("the reader sees the writer's session: %q", r.body)
		}
		refused(t, post(reader, "SET max_threads = 5", "session_id", id), http.StatusForbidden, "164", "READONLY")
		mustOK(t, post(reader, "USE system", "session_id", id))
		if got := mustOK(t, post(writer, "SELECT sum(x) FROM tmp", "session_id", id)); got != "7\n" {
			t.Fatalf("the writer's session: %q", got)
		}
	})

	// The engine's connections write again, with readonly reset.
	for range 8 {
		mustOK(t, post(writer, "INSERT INTO t VALUES (10)"))
	}
	if got := mustOK(t, post(writer, "SELECT count(), sum(x), getSetting('readonly') FROM t")); got != "10\t83\t0\n" {
		t.Fatalf("after the read-only requests: %q", got)
	}
}

// TestAuthClickHouseGo drives the locked endpoint with clickhouse-go as the
// loader and a dashboard do.
func TestAuthClickHouseGo(t *testing.T) {
	t.Parallel()
	base := lockedEndpoint(t)
	db := database(t, "auth_chgo")
	open := func(user, password string) driver.Conn {
		conn, err := clickhouse.Open(&clickhouse.Options{
			Addr:        []string{strings.TrimPrefix(base, "http://")},
			Protocol:    clickhouse.HTTP,
			Auth:        clickhouse.Auth{Database: db, Username: user, Password: password},
			DialTimeout: 10 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	ctx := context.Background()
	code := func(err error) int32 {
		var ex *clickhouse.Exception
		if errors.As(err, &ex) {
			return ex.Code
		}
		return 0
	}
	if err := open(writerName, "wrong").Ping(ctx); code(err) != 516 {
		t.Fatalf("wrong password: %v, want code 516", err)
	}
	w := open(writerName, writerPassword)
	mustExec(t, w, "CREATE TABLE m (k String, v Float64) ENGINE = MergeTree ORDER BY k")
	batch, err := w.PrepareBatch(ctx, "INSERT INTO m")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := batch.Append("k", float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatalf("writer's batch: %v", err)
	}

	r := open(readerName, readerPassword)
	if n := count(t, r, "SELECT count() FROM m"); n != 100 {
		t.Fatalf("reader counts %d rows, want 100", n)
	}
	if err := r.Exec(ctx, "INSERT INTO m VALUES ('x', 1)"); code(err) != 164 {
		t.Fatalf("reader's INSERT: %v, want code 164", err)
	}
	rb, err := r.PrepareBatch(ctx, "INSERT INTO m")
	if err == nil {
		_ = rb.Append("x", 1.0)
		err = rb.Send()
	}
	if code(err) != 164 {
		t.Fatalf("reader's batch: %v, want code 164", err)
	}
	if err := r.Exec(ctx, "DROP TABLE m"); code(err) != 164 {
		t.Fatalf("reader's DROP: %v, want code 164", err)
	}
	if n := count(t, w, "SELECT count() FROM m"); n != 100 {
		t.Fatalf("after the reader: %d rows, want 100", n)
	}
}

// TestAuthClickHouseConnect runs testdata/clickhouse_connect_auth.py:
// clickhouse-connect (dbt's and Superset's client) as the writer, the
// read-only user and a stranger.
func TestAuthClickHouseConnect(t *testing.T) {
	t.Parallel()
	runClickHouseConnectAt(t, lockedEndpoint(t), "testdata/clickhouse_connect_auth.py",
		writerName, writerPassword, readerName, readerPassword)
}
