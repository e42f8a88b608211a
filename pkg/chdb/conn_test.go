package chdb_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/chdb"
)

func connect(t *testing.T, e *chdb.Engine) *chdb.Conn {
	t.Helper()
	c, err := e.Connect()
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func exec(t *testing.T, c *chdb.Conn, sql string) string {
	t.Helper()
	res, err := c.Exec(context.Background(), chdb.Request{SQL: sql})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return string(res.Data)
}

func TestConnections(t *testing.T) {
	e := open(t, t.TempDir())
	ctx := context.Background()

	t.Run("sessions are isolated", func(t *testing.T) {
		a, b := connect(t, e), connect(t, e)
		if err := a.Set(ctx, map[string]string{"max_block_size": "4321"}); err != nil {
			t.Fatal(err)
		}
		exec(t, a, "CREATE TEMPORARY TABLE tmp (x UInt8)")
		exec(t, a, "INSERT INTO tmp VALUES (7)")
		exec(t, a, "CREATE DATABASE IF NOT EXISTS other")
		exec(t, a, "USE other")
		if got := exec(t, a, "SELECT getSetting('max_block_size'), (SELECT sum(x) FROM tmp), currentDatabase()"); got != "4321\t7\tother\n" {
			t.Fatalf("session a: %q", got)
		}
		if got := exec(t, b, "SELECT getSetting('max_block_size') != 4321, currentDatabase()"); got != "1\tdefault\n" {
			t.Fatalf("session b sees a's state: %q", got)
		}
		if _, err := b.Exec(ctx, chdb.Request{SQL: "SELECT * FROM tmp"}); err == nil {
			t.Fatalf("session b sees a's temporary table")
		}
		// A statement's own settings and database do not stick; the
		// session's come back.
		res, err := a.Exec(ctx, chdb.Request{SQL: "SELECT getSetting('max_block_size'), currentDatabase()", Database: "default",
			Settings: map[string]string{"max_block_size": "99"}})
		if err != nil || string(res.Data) != "99\tdefault\n" {
			t.Fatalf("override: %q %v", res.Data, err)
		}
		if got := exec(t, a, "SELECT getSetting('max_block_size'), currentDatabase()"); got != "4321\tother\n" {
			t.Fatalf("after override: %q", got)
		}
		// Defaults apply unless the session set the setting.
		res, err = a.Exec(ctx, chdb.Request{SQL: "SELECT getSetting('max_block_size'), getSetting('max_result_rows')",
			Defaults: map[string]string{"max_block_size": "5", "max_result_rows": "1000"}})
		if err != nil || string(res.Data) != "4321\t1000\n" {
			t.Fatalf("defaults: %q %v", res.Data, err)
		}
		if err := a.Set(ctx, map[string]string{"max_block_size": "DEFAULT"}); err != nil {
			t.Fatal(err)
		}
		if got := exec(t, a, "SELECT getSetting('max_block_size') != 4321, getSetting('max_result_rows')"); got != "1\t0\n" {
			t.Fatalf("after SET DEFAULT: %q", got)
		}
		if err := a.Set(ctx, map[string]string{"no_such_setting": "1"}); err == nil {
			t.Fatalf("unknown setting accepted")
		}
	})

	t.Run("connections run concurrently", func(t *testing.T) {
		slow, fast := connect(t, e), connect(t, e)
		done := make(chan error, 1)
		go func() {
			_, err := slow.Exec(ctx, chdb.Request{SQL: "SELECT sleep(2)"})
			done <- err
		}()
		// Wait until the slow statement runs, then time a fast one.
		deadline := time.Now().Add(5 * time.Second)
		for exec(t, fast, "SELECT count() FROM system.processes WHERE query LIKE 'SELECT sleep(2)%'") != "1\n" {
			if time.Now().After(deadline) {
				t.Fatal("slow statement never showed up")
			}
		}
		start := time.Now()
		exec(t, fast, "SELECT 1")
		if d := time.Since(start); d > time.Second {
			t.Fatalf("fast statement took %v beside a slow one", d)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("analyze", func(t *testing.T) {
		c := connect(t, e)
		for _, tc := range []struct {
			sql      string
			n        int
			readOnly bool
		}{
			{"SELECT 1", 1, true},
			{"SELECT 1;", 1, true},
			{"SELECT 1; SELECT 2", 2, true},
			{"SELECT $$a;b$$", 1, true},
			{"INSERT INTO t SELECT 1", 1, false},
			{"SELEC 1", 0, false},
		} {
			a, err := c.Analyze(ctx, tc.sql)
			if err != nil || a.Statements != tc.n || a.ReadOnly != tc.readOnly {
				t.Fatalf("%q: %+v %v, want %d statements, read-only %v", tc.sql, a, err, tc.n, tc.readOnly)
			}
		}
	})
}

func TestQueryStream(t *testing.T) {
	e := open(t, t.TempDir())
	ctx := context.Background()
	c := connect(t, e)

	t.Run("blocks", func(t *testing.T) {
		rows, err := c.Query(ctx, chdb.Request{SQL: "SELECT number FROM numbers({n:UInt64})", Format: "TSV",
			Params: map[string]string{"n": "200000"}, Settings: map[string]string{"max_block_size": "10000"}})
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var blocks, lines int
		for rows.Next() {
			blocks++
			lines += strings.Count(string(rows.Chunk()), "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if blocks < 10 || lines != 200000 || rows.Stats().RowsRead != 200000 {
			t.Fatalf("%d blocks, %d lines, stats %+v", blocks, lines, rows.Stats())
		}
	})

	t.Run("error after the first blocks", func(t *testing.T) {
		rows, err := c.Query(ctx, chdb.Request{SQL: "SELECT throwIf(number = 150000, 'boom') FROM numbers(300000)", Format: "TSV",
			Settings: map[string]string{"max_block_size": "10000"}})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		var ce *chdb.Error
		if n == 0 || !errors.As(rows.Err(), &ce) || ce.Code != 395 || strings.Contains(ce.Message, "chdb:") {
			t.Fatalf("after %d blocks: %v", n, rows.Err())
		}
		if got := exec(t, c, "SELECT 'usable'"); got != "usable\n" {
			t.Fatalf("connection after a failed stream: %q", got)
		}
	})

	t.Run("errors before the first block", func(t *testing.T) {
		rows, err := c.Query(ctx, chdb.Request{SQL: "SELEC 1"})
		if err == nil {
			rows.Next()
			err = rows.Err()
			rows.Close()
		}
		var ce *chdb.Error
		if !errors.As(err, &ce) || ce.Code != 62 || strings.Contains(ce.Message, "chdb:") {
			t.Fatalf("syntax error: %v", err)
		}
		if _, err := c.Query(ctx, chdb.Request{SQL: "CREATE TABLE x (a UInt8) ENGINE = Memory"}); !errors.Is(err, chdb.ErrNotStreamable) {
			t.Fatalf("DDL: %v", err)
		}
	})

	t.Run("cancel kills a running computation", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		rows, err := c.Query(cctx, chdb.Request{SQL: "SELECT sum(cityHash64(number)) FROM numbers(100000000000)"})
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		if rows.Next() {
			t.Fatalf("a block came back")
		}
		rows.Close()
		if d := time.Since(start); d > 1300*time.Millisecond || !errors.Is(rows.Err(), context.Canceled) {
			t.Fatalf("cancelled after %v: %v", d, rows.Err())
		}
		if got := exec(t, c, "SELECT count() FROM system.processes WHERE query LIKE '%cityHash64%' AND query NOT LIKE '%system.processes%'"); got != "0\n" {
			t.Fatalf("query still running: %q", got)
		}
	})

	t.Run("abandoned stream", func(t *testing.T) {
		rows, err := c.Query(ctx, chdb.Request{SQL: "SELECT number FROM numbers(100000000)", Format: "TSV"})
		if err != nil {
			t.Fatal(err)
		}
		if !rows.Next() {
			t.Fatal(rows.Err())
		}
		rows.Close()
		if got := exec(t, c, "SELECT 'next'"); got != "next\n" {
			t.Fatalf("after an abandoned stream: %q", got)
		}
	})

	t.Run("a stream holds its connection", func(t *testing.T) {
		rows, err := c.Query(ctx, chdb.Request{SQL: "SELECT 1"})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		wg.Go(func() {
			if _, err := c.Exec(wctx, chdb.Request{SQL: "SELECT 2"}); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("statement beside an open stream: %v", err)
			}
		})
		wg.Wait()
		rows.Close()
	})
}
