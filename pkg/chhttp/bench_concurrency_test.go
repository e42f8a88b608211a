package chhttp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowQuery keeps the engine busy for about a second per run on a
// two-core machine.
const slowQuery = "SELECT sum(cityHash64(number)) FROM numbers(600000000)"

// BenchmarkSmallQueriesBesideSlowQuery measures the latency of small
// statements (a SELECT, an INSERT of one row) sent while another client runs
// slow queries back to back, against the same statements on an idle
// endpoint. It reports the mean (ns/op) and the 99th percentile (p99-ms).
func BenchmarkSmallQueriesBesideSlowQuery(b *testing.B) {
	db := database(b, "bench_side")
	post(b, url.Values{"database": {db}}, "CREATE TABLE t (n UInt64) ENGINE = MergeTree ORDER BY n")
	small := map[string]string{
		"select": "SELECT 1",
		"insert": "INSERT INTO t VALUES (1)",
	}
	for _, busy := range []bool{false, true} {
		for _, name := range []string{"select", "insert"} {
			b.Run(fmt.Sprintf("%s/slow=%v", name, busy), func(b *testing.B) {
				if busy {
					stop := runSlow(b)
					defer stop()
				}
				var lat []time.Duration
				for b.Loop() {
					start := time.Now()
					post(b, url.Values{"database": {db}}, small[name])
					lat = append(lat, time.Since(start))
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			})
		}
	}
}

// runSlow runs slowQuery back to back until the returned function is
// called; it returns once the first run has been sent.
func runSlow(b *testing.B) func() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	started := make(chan struct{})
	wg.Go(func() {
		first := true
		for ctx.Err() == nil {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint(b)+"/", strings.NewReader(slowQuery))
			if err != nil {
				return
			}
			if first {
				close(started)
				first = false
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
	<-started
	return func() {
		cancel()
		wg.Wait()
	}
}

// post sends one statement and fails the benchmark unless it succeeded.
func post(tb testing.TB, params url.Values, sql string) {
	tb.Helper()
	res, err := http.Post(endpoint(tb)+"/?"+params.Encode(), "text/plain", strings.NewReader(sql))
	if err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("%s: status %d: %s", sql, res.StatusCode, body)
	}
}
