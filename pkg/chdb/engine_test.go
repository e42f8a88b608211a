package chdb_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/chdb"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

// The engine is a process singleton with one data path at a time, so the
// tests of this package run sequentially.

func open(t *testing.T, dir string) *chdb.Engine {
	t.Helper()
	e, err := chdb.Open(testinfra.Env(t, "CHDB_LIB"), dir)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func query(t *testing.T, e *chdb.Engine, sql string) string {
	t.Helper()
	out, err := e.Query(context.Background(), sql, "TabSeparated")
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return string(out)
}

func TestMissingLibrary(t *testing.T) {
	_, err := chdb.Open(filepath.Join(t.TempDir(), "libchdb.so"), t.TempDir())
	if !errors.Is(err, chdb.ErrLibraryMissing) || !strings.Contains(err.Error(), "scripts/fetch-chdb.sh") {
		t.Fatalf("Open on a missing library: %v", err)
	}
	t.Setenv(chdb.LibEnv, "")
	if _, err := chdb.LibPath(); !errors.Is(err, chdb.ErrLibraryMissing) {
		t.Fatalf("LibPath without %s: %v", chdb.LibEnv, err)
	}
	t.Setenv(chdb.LibEnv, t.TempDir())
	if _, err := chdb.LibPath(); !errors.Is(err, chdb.ErrLibraryMissing) {
		t.Fatalf("LibPath on a directory: %v", err)
	}
}

func TestEngine(t *testing.T) {
	e := open(t, t.TempDir())
	ctx := context.Background()
	if v := e.Version(); !strings.HasPrefix(v, "26.") {
		t.Fatalf("version %q", v)
	}

	t.Run("ddl insert select", func(t *testing.T) {
		query(t, e, "CREATE DATABASE sp")
		query(t, e, `CREATE TABLE sp.m (id String, k LowCardinality(String), v Float64, at DateTime64(3, 'UTC'))
			ENGINE = ReplacingMergeTree ORDER BY (id, k)`)
		res, err := e.Insert(ctx, chdb.Request{SQL: "INSERT INTO sp.m", Format: "CSV"},
			strings.NewReader("a,x,1.5,2024-01-02 03:04:05.678\nb,y,-2,2024-01-02 03:04:05.000\n"))
		if err != nil {
			t.Fatalf("insert: %v", err)
		}
		if res.RowsWritten != 2 {
			t.Fatalf("rows written %d", res.RowsWritten)
		}
		if got := query(t, e, "SELECT * FROM sp.m ORDER BY id"); got != "a\tx\t1.5\t2024-01-02 03:04:05.678\nb\ty\t-2\t2024-01-02 03:04:05.000\n" {
			t.Fatalf("select: %q", got)
		}
		out, err := e.Query(ctx, "SELECT id FROM sp.m ORDER BY id", "JSONEachRow")
		if err != nil || string(out) != "{\"id\":\"a\"}\n{\"id\":\"b\"}\n" {
			t.Fatalf("JSONEachRow: %q %v", out, err)
		}
	})

	t.Run("large streamed insert", func(t *testing.T) {
		query(t, e, "CREATE TABLE sp.big (n UInt64, s String) ENGINE = MergeTree ORDER BY n")
		var buf bytes.Buffer
		for i := range 300_000 {
			fmt.Fprintf(&buf, "%d\tvalue-%d\n", i, i)
		}
		if _, err := e.Insert(ctx, chdb.Request{SQL: "INSERT INTO sp.big", Format: "TabSeparated"}, &buf); err != nil {
			t.Fatalf("insert: %v", err)
		}
		if got := query(t, e, "SELECT count(), sum(n) FROM sp.big"); got != "300000\t44999850000\n" {
			t.Fatalf("count, sum = %q", got)
		}
	})

	t.Run("errors carry codes", func(t *testing.T) {
		for _, tc := range []struct {
			sql  string
			code int
		}{
			{"SELEC 1", 62},
			{"SELECT * FROM sp.nope", 60},
			{"SELECT * FROM nodb.nope", 81},
			{"CREATE TABLE sp.m (x UInt8) ENGINE = Memory", 57},
		} {
			_, err := e.Query(ctx, tc.sql, "TabSeparated")
			var ce *chdb.Error
			if !errors.As(err, &ce) || ce.Code != tc.code || !strings.HasPrefix(ce.Message, "DB::Exception: ") {
				t.Fatalf("%s: %v, want code %d", tc.sql, err, tc.code)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("Code: %d. DB::Exception: ", tc.code)) {
				t.Fatalf("Error() = %q", err.Error())
			}
		}
		_, err := e.Insert(ctx, chdb.Request{SQL: "INSERT INTO sp.m", Format: "CSV"}, strings.NewReader("a,x,not-a-number,2024-01-01\n"))
		var ce *chdb.Error
		if !errors.As(err, &ce) || ce.Code != 27 {
			t.Fatalf("bad insert data: %v", err)
		}
		// The connection is usable after errors.
		if got := query(t, e, "SELECT count() FROM sp.m"); got != "2\n" {
			t.Fatalf("count after errors: %q", got)
		}
	})

	t.Run("params settings database", func(t *testing.T) {
		res, err := e.Exec(ctx, chdb.Request{
			SQL:      "SELECT {id:String}, getSetting('max_block_size'), currentDatabase()",
			Format:   "TabSeparated",
			Database: "sp",
			Params:   map[string]string{"id": "a b"},
			Settings: map[string]string{"max_block_size": "1234"},
		})
		if err != nil || string(res.Data) != "a b\t1234\tsp\n" {
			t.Fatalf("exec: %q %v", res.Data, err)
		}
		// Neither the settings nor the database stick to the connection.
		if got := query(t, e, "SELECT getSetting('max_block_size') != 1234, currentDatabase()"); got != "1\tdefault\n" {
			t.Fatalf("after exec: %q", got)
		}
		_, err = e.Exec(ctx, chdb.Request{SQL: "SELECT 1", Settings: map[string]string{"no_such_setting": "1"}})
		var ce *chdb.Error
		if !errors.As(err, &ce) || ce.Code != 115 {
			t.Fatalf("unknown setting: %v", err)
		}
		if _, err := e.Exec(ctx, chdb.Request{SQL: "SELECT 1", Settings: map[string]string{"x = 1; DROP": "1"}}); err == nil {
			t.Fatalf("a malformed setting name was accepted")
		}
	})

	t.Run("deadline bounds a statement", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 1200*time.Millisecond)
		defer cancel()
		_, err := e.Exec(ctx, chdb.Request{SQL: "SELECT sleepEachRow(0.5) FROM numbers(20) SETTINGS max_block_size = 1"})
		var ce *chdb.Error
		if !errors.As(err, &ce) || ce.Code != 159 {
			t.Fatalf("long statement under a deadline: %v, want TIMEOUT_EXCEEDED", err)
		}
	})

	t.Run("concurrent callers are serialized", func(t *testing.T) {
		query(t, e, "CREATE TABLE sp.c (w UInt32, i UInt32) ENGINE = MergeTree ORDER BY (w, i)")
		const workers, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					if _, err := e.Insert(ctx, chdb.Request{SQL: "INSERT INTO sp.c", Format: "CSV"}, strings.NewReader(fmt.Sprintf("%d,%d\n", w, i))); err != nil {
						errs <- err
						return
					}
					if _, err := e.Exec(ctx, chdb.Request{SQL: "SELECT count() FROM sp.c WHERE w = {w:UInt32}", Params: map[string]string{"w": fmt.Sprint(w)}}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent call: %v", err)
		}
		if got := query(t, e, "SELECT count(), uniqExact(w, i) FROM sp.c"); got != fmt.Sprintf("%d\t%d\n", workers*each, workers*each) {
			t.Fatalf("count = %q", got)
		}
	})

	t.Run("waiting caller honours its context", func(t *testing.T) {
		started := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			close(started)
			_, err := e.Exec(ctx, chdb.Request{SQL: "SELECT sleep(1)"})
			done <- err
		}()
		<-started
		// Poll until the slow statement holds the connection, then a caller
		// with a cancelled context must not wait for it.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := e.Exec(cctx, chdb.Request{SQL: "SELECT 1"})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("slow statement: %v", err)
		}
	})
}

func TestPersistenceAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	lib := testinfra.Env(t, "CHDB_LIB")
	e, err := chdb.Open(lib, dir)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	query(t, e, "CREATE DATABASE keep")
	query(t, e, "CREATE TABLE keep.t (id UInt32, s String) ENGINE = MergeTree ORDER BY id")
	query(t, e, "INSERT INTO keep.t VALUES (1, 'one'), (2, 'two')")
	if got := query(t, e, "SELECT engine FROM system.databases WHERE name = 'keep'"); got != "Atomic\n" {
		t.Fatalf("database engine %q, want Atomic", got)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := e.Query(context.Background(), "SELECT 1", ""); !errors.Is(err, chdb.ErrClosed) {
		t.Fatalf("query on a closed engine: %v", err)
	}

	e2 := open(t, dir)
	if got := query(t, e2, "SELECT s FROM keep.t ORDER BY id"); got != "one\ntwo\n" {
		t.Fatalf("after reopen: %q", got)
	}
	_ = e2.Close()

	// Another path can be opened once the previous engine is closed.
	e3 := open(t, t.TempDir())
	if got := query(t, e3, "SELECT count() FROM system.databases WHERE name = 'keep'"); got != "0\n" {
		t.Fatalf("fresh path sees old database: %q", got)
	}
}
