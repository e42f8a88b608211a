package chhttp_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/chhttp"
	"github.com/serviceping/serviceping/pkg/chtest"
)

func sessionID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// sessionConn opens a clickhouse-go HTTP client whose requests all run in
// session id.
func sessionConn(tb testing.TB, id string) driver.Conn {
	tb.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:     []string{strings.TrimPrefix(endpoint(tb), "http://")},
		Protocol: clickhouse.HTTP,
		Settings: clickhouse.Settings{"session_id": id},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

func queryString(tb testing.TB, conn driver.Conn, ctx context.Context, sql string) (string, error) {
	tb.Helper()
	var s string
	err := conn.QueryRow(ctx, sql).Scan(&s)
	return s, err
}

func TestSessionsIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, none := sessionConn(t, sessionID("a")), sessionConn(t, sessionID("b")), connect(t, "", nil)
	const get = "SELECT toString(getSetting('max_block_size'))"
	setting := func(conn driver.Conn) string {
		t.Helper()
		s, err := queryString(t, conn, ctx, get)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	def := setting(none)

	mustExec(t, a, "SET max_block_size = 1234")
	if got := setting(a); got != "1234" {
		t.Fatalf("session a: max_block_size %s after SET", got)
	}
	if got := setting(b); got != def {
		t.Fatalf("session b sees a's SET: %s", got)
	}
	if got := setting(none); got != def {
		t.Fatalf("a request without a session sees a's SET: %s", got)
	}
	// A SET without a session changes nothing, for no one.
	mustExec(t, none, "SET max_block_size = 4321")
	for _, conn := range []driver.Conn{none, b} {
		if got := setting(conn); got != def {
			t.Fatalf("a SET without a session leaked: %s", got)
		}
	}
	// A statement's own settings do not stick to the session.
	once := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_block_size": 99}))
	if got, err := queryString(t, a, once, get); err != nil || got != "99" {
		t.Fatalf("per-query setting in a session: %q %v", got, err)
	}
	if got := setting(a); got != "1234" {
		t.Fatalf("session a after a per-query setting: %s", got)
	}
	// The session's SET wins over the endpoint's default limits.
	mustExec(t, a, "SET max_result_rows = 7")
	if got, err := queryString(t, a, ctx, "SELECT toString(getSetting('max_result_rows'))"); err != nil || got != "7" {
		t.Fatalf("session limit: %q %v", got, err)
	}
	if got, err := queryString(t, b, ctx, "SELECT toString(getSetting('max_result_rows'))"); err != nil || got != chhttp.DefaultLimits()["max_result_rows"] {
		t.Fatalf("default limit: %q %v", got, err)
	}

	// Temporary tables live in their session.
	mustExec(t, a, "CREATE TEMPORARY TABLE tmp (x UInt8)")
	mustExec(t, a, "INSERT INTO tmp VALUES (5)")
	if n := count(t, a, "SELECT sum(x) FROM tmp"); n != 5 {
		t.Fatalf("temporary table in its session: %d", n)
	}
	var ex *clickhouse.Exception
	if _, err := queryString(t, b, ctx, "SELECT toString(sum(x)) FROM tmp"); !errors.As(err, &ex) || ex.Code != 60 {
		t.Fatalf("session b reads a's temporary table: %v", err)
	}
	if err := none.Exec(ctx, "CREATE TEMPORARY TABLE tmp2 (x UInt8)"); !errors.As(err, &ex) || ex.Code != 113 {
		t.Fatalf("temporary table without a session: %v", err)
	}

	// USE changes the session's database only.
	db := database(t, "sess_use")
	mustExec(t, a, "USE "+db)
	if got, _ := queryString(t, a, ctx, "SELECT currentDatabase()"); got != db {
		t.Fatalf("session a after USE: %q", got)
	}
	if got, _ := queryString(t, b, ctx, "SELECT currentDatabase()"); got != "default" {
		t.Fatalf("session b after a's USE: %q", got)
	}
	mustExec(t, none, "USE "+db)
	if got, _ := queryString(t, none, ctx, "SELECT currentDatabase()"); got != "default" {
		t.Fatalf("a USE without a session stuck: %q", got)
	}
}

func TestSessionLocking(t *testing.T) {
	t.Parallel()
	id := sessionID("locked")
	params := q("session_id", id)
	var wg sync.WaitGroup
	wg.Go(func() {
		// The probes below may hold the session when this one comes.
		for {
			res := do(t, http.MethodPost, params, strings.NewReader("SELECT sleep(2)"), nil)
			if res.status == http.StatusOK {
				return
			}
			if res.header.Get("X-ClickHouse-Exception-Code") != "373" {
				t.Errorf("slow statement: %d %s", res.status, res.body)
				return
			}
		}
	})
	defer wg.Wait()
	// Probe the session until the slow statement holds it.
	deadline := time.Now().Add(3 * time.Second)
	for {
		res := do(t, http.MethodPost, params, strings.NewReader("SELECT 1"), nil)
		if res.status != http.StatusOK {
			wantCode(t, res, http.StatusInternalServerError, "373", "Session "+id+" is locked by a concurrent client")
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session was never locked")
		}
	}
	// Another session is not held up.
	start := time.Now()
	mustOK(t, do(t, http.MethodPost, q("session_id", sessionID("free")), strings.NewReader("SELECT 1"), nil))
	if d := time.Since(start); d > time.Second {
		t.Fatalf("another session waited %v", d)
	}
}

func TestSessionParameters(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	post := ownEndpoint(t, chhttp.Options{Registerer: reg, MaxSessions: 2, MaxSessionTimeout: time.Minute})

	wantCode(t, post(q("session_id", sessionID("x"), "session_timeout", "3600"), "SELECT 1"), http.StatusBadRequest, "374", "larger than max_session_timeout: 60")
	wantCode(t, post(q("session_id", sessionID("x"), "session_timeout", "soon"), "SELECT 1"), http.StatusBadRequest, "374", "Invalid session timeout")
	wantCode(t, post(q("session_id", sessionID("x"), "session_check", "1"), "SELECT 1"), http.StatusNotFound, "372", "not found")

	// A session ends session_timeout after its last request, temporary
	// tables and all.
	id := sessionID("short")
	mustOK(t, post(q("session_id", id, "session_timeout", "1"), "CREATE TEMPORARY TABLE t (x UInt8)"))
	mustOK(t, post(q("session_id", id, "session_timeout", "1"), "INSERT INTO t VALUES (1)"))
	if gauge(t, reg, "serviceping_chhttp_sessions") != 1 {
		t.Fatalf("sessions gauge %v, want 1", gauge(t, reg, "serviceping_chhttp_sessions"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for gauge(t, reg, "serviceping_chhttp_sessions") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session did not expire")
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantCode(t, post(q("session_id", id, "close_session", "1"), "SELECT count() FROM t"), http.StatusNotFound, "60", "")

	// close_session=1 ends a session with its request; MaxSessions bounds
	// those kept.
	mustOK(t, post(q("session_id", sessionID("kept")), "SELECT 1"))
	mustOK(t, post(q("session_id", sessionID("closed"), "close_session", "1"), "SELECT 1"))
	mustOK(t, post(q("session_id", sessionID("second")), "SELECT 1"))
	wantCode(t, post(q("session_id", sessionID("third")), "SELECT 1"), http.StatusServiceUnavailable, "700", "Too many sessions")
}

// ownEndpoint serves the shared engine with opts for one test and returns a
// function posting one statement to it.
func ownEndpoint(t *testing.T, opts chhttp.Options) func(params url.Values, sql string) httpResult {
	t.Helper()
	base := serveEngine(t, opts)
	return func(params url.Values, sql string) httpResult {
		return send(t, base, http.MethodPost, credentials{}, params, sql)
	}
}

// serveEngine serves the shared engine with opts for one test and returns
// the endpoint's base URL.
func serveEngine(t *testing.T, opts chhttp.Options) string {
	t.Helper()
	h, err := chhttp.New(chtest.Engine(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		_ = h.Close()
	})
	return srv.URL
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}
