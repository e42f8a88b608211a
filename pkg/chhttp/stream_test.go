package chhttp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/serviceping/serviceping/pkg/chhttp"
)

func TestStreamedResult(t *testing.T) {
	t.Parallel()
	res, err := http.Post(endpoint(t)+"/", "text/plain", strings.NewReader("SELECT number FROM numbers(20000000) FORMAT TSV"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.ContentLength != -1 || len(res.Header.Get("X-ClickHouse-Exception-Tag")) != 16 {
		t.Fatalf("status %d, length %d, headers %v", res.StatusCode, res.ContentLength, res.Header)
	}
	sc := bufio.NewScanner(res.Body)
	n, sum := 0, uint64(0)
	for sc.Scan() {
		v, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		n++
		sum += v
	}
	if err := sc.Err(); err != nil || n != 20000000 || sum != 20000000*19999999/2 {
		t.Fatalf("%d rows, sum %d, err %v", n, sum, err)
	}

	// clickhouse-go reads a streamed Native result block by block.
	conn := connect(t, "", nil)
	rows, err := conn.Query(context.Background(), "SELECT number, toString(number) FROM numbers(3000000)")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n = 0
	for rows.Next() {
		var v uint64
		var s string
		if err := rows.Scan(&v, &s); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if err := rows.Err(); err != nil || n != 3000000 {
		t.Fatalf("clickhouse-go: %d rows, %v", n, err)
	}
}

// rss returns the process's resident memory in bytes.
func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// running counts the engine's statements whose text contains marker.
func running(t *testing.T, marker string) string {
	t.Helper()
	return mustOK(t, do(t, http.MethodPost, nil, strings.NewReader(
		"SELECT count() FROM system.processes WHERE position(query, '"+marker+"') > 0 AND position(query, 'system.processes') = 0"), nil))
}

// memoryBound is what a client that reads 4 KB of a 100-million-row result
// and hangs up may cost the process, at most. Buffered whole, the result
// alone would be about 900 MB in TSV.
const memoryBound = 256 << 20

// TestHangUpStopsQuery is not parallel: it measures the process's memory.
func TestHangUpStopsQuery(t *testing.T) {
	endpoint(t)
	// Each client reads the start of a 100-million-row result and hangs up.
	clients := map[string]func(t *testing.T, marker string){
		"http/TSV":    func(t *testing.T, marker string) { readAndHangUp(t, marker, "TSV") },
		"http/Native": func(t *testing.T, marker string) { readAndHangUp(t, marker, "Native") },
		"clickhouse-go": func(t *testing.T, marker string) {
			ctx, cancel := context.WithCancel(context.Background())
			rows, err := connect(t, "", nil).Query(ctx, "SELECT number AS "+marker+" FROM numbers(100000000)")
			if err != nil {
				t.Fatal(err)
			}
			if !rows.Next() {
				t.Fatal(rows.Err())
			}
			cancel() // clickhouse-go hangs up when its context ends
			rows.Close()
		},
	}
	for name, hangUp := range clients {
		t.Run(name, func(t *testing.T) {
			var peak atomic.Int64
			base := rss(t)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				tick := time.NewTicker(5 * time.Millisecond)
				defer tick.Stop()
				for {
					if m := rss(t); m > peak.Load() {
						peak.Store(m)
					}
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
			})
			marker := "hangup_" + strings.NewReplacer("/", "_", "-", "_").Replace(name)
			hangUp(t, marker)
			hungUp := time.Now()
			for running(t, marker) != "0\n" {
				if time.Since(hungUp) > time.Second {
					t.Fatalf("the statement still runs %v after the client hung up", time.Since(hungUp))
				}
			}
			stopped := time.Since(hungUp)
			close(stop)
			wg.Wait()
			if got := mustOK(t, do(t, http.MethodGet, q("query", "SELECT 'still here'"), nil, nil)); got != "still here\n" {
				t.Fatalf("endpoint after the hang-up: %q", got)
			}
			growth := peak.Load() - base
			t.Logf("statement stopped %v after the hang-up; peak memory %d MiB over the %d MiB before", stopped.Round(time.Millisecond), growth>>20, base>>20)
			if growth > memoryBound {
				t.Fatalf("memory grew by %d MiB, bound %d MiB", growth>>20, memoryBound>>20)
			}
		})
	}
}

// readAndHangUp reads 4 KB of a 100-million-row result and closes the
// connection.
func readAndHangUp(t *testing.T, marker, format string) {
	sql := "SELECT number AS " + marker + " FROM numbers(100000000) FORMAT " + format
	res, err := http.Post(endpoint(t)+"/", "text/plain", strings.NewReader(sql))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(res.Body, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}

// TestResponseBuffering: as in ClickHouse, each block goes to the client as
// the engine produces it unless the request's buffer_size exceeds 1 MiB;
// every result announces its exception tag, also one sent whole.
func TestResponseBuffering(t *testing.T) {
	t.Parallel()
	slow := func(marker string) string {
		return "SELECT number AS " + marker + ", sleepEachRow(0.05) FROM numbers(20) SETTINGS max_block_size = 1 FORMAT TSV"
	}
	t.Run("streamed by default", func(t *testing.T) {
		marker := "buffering_default"
		res, err := http.Post(endpoint(t)+"/", "text/plain", strings.NewReader(slow(marker)))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		line, err := bufio.NewReader(res.Body).ReadString('\n')
		if err != nil || line != "0\t0\n" {
			t.Fatalf("first line %q: %v", line, err)
		}
		// The first row came while the statement still runs (it takes a second).
		if got := running(t, marker); got != "1\n" {
			t.Fatalf("first row read, %q statements running", got)
		}
		if res.StatusCode != http.StatusOK || res.ContentLength != -1 || len(res.Header.Get("X-ClickHouse-Exception-Tag")) != 16 {
			t.Fatalf("status %d, length %d, headers %v", res.StatusCode, res.ContentLength, res.Header)
		}
	})
	t.Run("buffer_size above 1 MiB holds", func(t *testing.T) {
		res := do(t, http.MethodPost, q("buffer_size", "2000000"), strings.NewReader(slow("buffering_held")), nil)
		if res.status != http.StatusOK || strings.Count(res.body, "\n") != 20 || res.header.Get("Content-Length") != strconv.Itoa(len(res.body)) {
			t.Fatalf("status %d, Content-Length %q, body %q", res.status, res.header.Get("Content-Length"), res.body)
		}
		var sum map[string]string
		if err := json.Unmarshal([]byte(res.header.Get("X-ClickHouse-Summary")), &sum); err != nil || sum["read_rows"] != "20" {
			t.Fatalf("summary %q: %v", res.header.Get("X-ClickHouse-Summary"), err)
		}
		if len(res.header.Get("X-ClickHouse-Exception-Tag")) != 16 {
			t.Fatalf("no exception tag on a whole result: %v", res.header)
		}
	})
	t.Run("error after the first JSON rows", func(t *testing.T) {
		// clickhouse-go's TestFormatMidStreamException: JSON streams too.
		res := do(t, http.MethodPost, q("max_block_size", "1", "default_format", "JSON"),
			strings.NewReader("SELECT sleepEachRow(0.01), throwIf(number = 50, 'json boom') FROM numbers(100)"), nil)
		tag := res.header.Get("X-ClickHouse-Exception-Tag")
		if res.status != http.StatusOK || !strings.Contains(res.body, "\"data\":") ||
			!strings.Contains(res.body, "\r\n__exception__\r\n"+tag+"\r\nCode: 395. DB::Exception: json boom") {
			t.Fatalf("status %d, tag %q, body %q", res.status, tag, res.body)
		}
	})
	t.Run("error after the first block", func(t *testing.T) {
		// clickhouse-connect's mid-stream test: small blocks, the error
		// long after the first one; nothing near 1 MiB was written.
		res := do(t, http.MethodPost, q("max_block_size", "1"),
			strings.NewReader("SELECT sleepEachRow(0.01), throwIf(number = 100, 'late boom') FROM numbers(200) FORMAT TSV"), nil)
		tag := res.header.Get("X-ClickHouse-Exception-Tag")
		if res.status != http.StatusOK || !strings.HasPrefix(res.body, "0\t0\n") ||
			!strings.Contains(res.body, "\r\n__exception__\r\n"+tag+"\r\nCode: 395. DB::Exception: late boom") {
			t.Fatalf("status %d, tag %q, body %q", res.status, tag, res.body)
		}
	})
}

// TestFormatsOverBlocks: a result of many blocks is one output of its
// format — a header once, one JSON document — as when it is one block.
func TestFormatsOverBlocks(t *testing.T) {
	t.Parallel()
	const sql = "SELECT number, toString(number) AS s, 'a\nb' AS nl FROM numbers(10)"
	for _, format := range []string{"TSV", "CSV", "RowBinary", "JSONEachRow",
		"TSVWithNames", "TabSeparatedWithNamesAndTypes", "CSVWithNames", "CSVWithNamesAndTypes",
		"JSONCompactEachRowWithNamesAndTypes", "RowBinaryWithNames", "RowBinaryWithNamesAndTypes",
		"Values", "Markdown", "PrettyCompactMonoBlock", "XML", "Parquet", "Arrow"} {
		t.Run(format, func(t *testing.T) {
			one := mustOK(t, do(t, http.MethodPost, q("max_block_size", "1000", "default_format", format), strings.NewReader(sql), nil))
			many := mustOK(t, do(t, http.MethodPost, q("max_block_size", "3", "default_format", format), strings.NewReader(sql), nil))
			if format == "XML" || format == "Parquet" || format == "Arrow" {
				// Statistics and row groups differ; one document, one magic.
				for _, magic := range []string{"<?xml", "PAR1", "ARROW1"} {
					if n, m := strings.Count(one, magic), strings.Count(many, magic); n != m {
						t.Fatalf("%q %d times in one block, %d times in many", magic, n, m)
					}
				}
				return
			}
			if one != many {
				t.Fatalf("one block:\n%q\nmany blocks:\n%q", one, many)
			}
		})
	}
	// JSON documents are joined: one document, every row, the total count;
	// also for an empty result, and with totals.
	for _, c := range []struct{ format, sql string }{
		{"JSON", sql}, {"JSONCompact", sql}, {"JSONStrings", sql + " WHERE number > 100"},
		{"JSONCompactStrings", "SELECT number % 2 AS n, count() FROM numbers(10) GROUP BY n WITH TOTALS ORDER BY n"},
	} {
		t.Run(c.format, func(t *testing.T) {
			var doc struct {
				Meta   []map[string]any
				Data   []any
				Rows   int
				Totals []any
			}
			body := mustOK(t, do(t, http.MethodPost, q("max_block_size", "3", "default_format", c.format), strings.NewReader(c.sql+" SETTINGS max_block_size = 3"), nil))
			want := 10
			if strings.Contains(c.sql, "> 100") {
				want = 0
			} else if strings.Contains(c.sql, "TOTALS") {
				want = 2
			}
			if err := json.Unmarshal([]byte(body), &doc); err != nil || doc.Rows != want || len(doc.Data) != want || len(doc.Meta) == 0 {
				t.Fatalf("%d rows, %d data, %v: %s", doc.Rows, len(doc.Data), err, body)
			}
			if strings.Contains(c.sql, "TOTALS") && len(doc.Totals) != 2 {
				t.Fatalf("totals %v: %s", doc.Totals, body)
			}
		})
	}
	for _, format := range []string{"CSVWithNames", "RowBinaryWithNamesAndTypes"} {
		t.Run("empty "+format, func(t *testing.T) {
			body := mustOK(t, do(t, http.MethodPost, q("default_format", format), strings.NewReader("SELECT number FROM numbers(10) WHERE number > 100"), nil))
			if want := map[string]string{"CSVWithNames": "\"number\"\n", "RowBinaryWithNamesAndTypes": "\x01\x06number\x06UInt64"}[format]; body != want {
				t.Fatalf("got %q, want %q", body, want)
			}
		})
	}
}

// failing fails after about 11 MB of TSV.
const failing = "SELECT number, throwIf(number = 1500000, 'boom in the middle') FROM numbers(3000000)"

func TestErrorMidResult(t *testing.T) {
	t.Parallel()
	t.Run("raw", func(t *testing.T) {
		res := do(t, http.MethodPost, q("default_format", "TSV"), strings.NewReader(failing), nil)
		tag := res.header.Get("X-ClickHouse-Exception-Tag")
		if res.status != http.StatusOK || len(tag) != 16 || !strings.HasPrefix(res.body, "0\t0\n1\t0\n") {
			t.Fatalf("status %d, tag %q, body starts %q", res.status, tag, res.body[:min(len(res.body), 20)])
		}
		i := strings.Index(res.body, "\r\n__exception__\r\n"+tag+"\r\nCode: 395. DB::Exception: boom in the middle")
		if i < 0 || !strings.HasSuffix(res.body, " "+tag+"\r\n__exception__\r\n") {
			t.Fatalf("no exception block at the end: %q", res.body[max(0, len(res.body)-400):])
		}
	})
	for _, comp := range []*clickhouse.Compression{nil, {Method: clickhouse.CompressionLZ4}, {Method: clickhouse.CompressionZSTD}, {Method: clickhouse.CompressionGZIP}} {
		name := "plain"
		if comp != nil {
			name = comp.Method.String()
		}
		t.Run("clickhouse-go/"+name, func(t *testing.T) {
			conn := connect(t, "", comp)
			rows, err := conn.Query(context.Background(), failing)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			var ex *clickhouse.Exception
			if n == 0 || !errors.As(rows.Err(), &ex) || ex.Code != 395 || !strings.Contains(ex.Message, "boom in the middle") {
				t.Fatalf("after %d rows: %v", n, rows.Err())
			}
		})
	}
	t.Run("wait_end_of_query", func(t *testing.T) {
		res := do(t, http.MethodPost, q("default_format", "TSV", "wait_end_of_query", "1"), strings.NewReader(failing), nil)
		wantCode(t, res, http.StatusInternalServerError, "395", "boom in the middle")
	})
	t.Run("before the first bytes", func(t *testing.T) {
		res := do(t, http.MethodPost, q("default_format", "TSV"), strings.NewReader("SELECT number, throwIf(number = 10, 'early') FROM numbers(1000)"), nil)
		wantCode(t, res, http.StatusInternalServerError, "395", "early")
	})
}

func TestWaitEndOfQueryHoldsLargeResults(t *testing.T) {
	t.Parallel()
	post := ownEndpoint(t, chhttp.Options{MaxHeldBytes: 1 << 20, TempDir: t.TempDir()})
	res := post(q("wait_end_of_query", "1"), "SELECT number FROM numbers(1000000) ORDER BY number FORMAT TSV")
	if res.status != http.StatusOK || strings.Count(res.body, "\n") != 1000000 || !strings.HasSuffix(res.body, "\n999999\n") {
		t.Fatalf("status %d, %d lines", res.status, strings.Count(res.body, "\n"))
	}
	var sum map[string]string
	if err := json.Unmarshal([]byte(res.header.Get("X-ClickHouse-Summary")), &sum); err != nil || sum["read_rows"] != "1000000" {
		t.Fatalf("summary %q: %v", res.header.Get("X-ClickHouse-Summary"), err)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	// The shared endpoint runs with the default limits.
	got := mustOK(t, do(t, http.MethodPost, nil, strings.NewReader("SELECT getSetting('max_memory_usage'), getSetting('max_result_rows')"), nil))
	if want := chhttp.DefaultLimits()["max_memory_usage"] + "\t" + chhttp.DefaultLimits()["max_result_rows"] + "\n"; got != want {
		t.Fatalf("limits %q, want %q", got, want)
	}

	post := ownEndpoint(t, chhttp.Options{QueryTimeout: 2 * time.Second,
		Limits: map[string]string{"max_result_rows": "1000", "max_memory_usage": "50000000"}})
	wantCode(t, post(nil, "SELECT number FROM numbers(5000)"), http.StatusInternalServerError, "396", "Limit for result exceeded")
	if got := mustOK(t, post(q("max_result_rows", "0"), "SELECT count() FROM (SELECT number FROM numbers(5000))")); got != "5000\n" {
		t.Fatalf("got %q", got)
	}
	mustOK(t, post(q("max_result_rows", "0"), "SELECT number FROM numbers(5000)"))
	wantCode(t, post(nil, "SELECT groupArray(number) FROM numbers(20000000)"), http.StatusInternalServerError, "241", "memory limit exceeded")
	// The request timeout is the statements' max_execution_time.
	wantCode(t, post(nil, "SELECT sleep(3)"), http.StatusInternalServerError, "159", "Timeout exceeded")
}

func TestSlowQueryDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	db := database(t, "beside_slow")
	mustOK(t, do(t, http.MethodPost, q("database", db), strings.NewReader("CREATE TABLE t (n UInt64) ENGINE = MergeTree ORDER BY n"), nil))
	marker := "beside_slow_marker"
	var wg sync.WaitGroup
	wg.Go(func() {
		res := do(t, http.MethodPost, nil, strings.NewReader("SELECT sleep(2) AS "+marker), nil)
		if res.status != http.StatusOK {
			t.Errorf("slow statement: %d %s", res.status, res.body)
		}
	})
	defer wg.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for running(t, marker) != "1\n" {
		if time.Now().After(deadline) {
			t.Fatal("the slow statement never started")
		}
	}
	for _, sql := range []string{"SELECT 1", "INSERT INTO t VALUES (1)", "SELECT count() FROM t"} {
		start := time.Now()
		mustOK(t, do(t, http.MethodPost, q("database", db), strings.NewReader(sql), nil))
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("%s took %v beside a slow statement", sql, d)
		}
	}
	if running(t, marker) != "1\n" {
		t.Fatal("the slow statement ended before the fast ones were measured")
	}
}
