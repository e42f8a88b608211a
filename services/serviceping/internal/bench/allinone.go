package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serviceping/serviceping/pkg/lifecycle"
)

// allInOne posts the pings to `bin/serviceping run` on a fresh data
// directory (embedded NATS and ClickHouse, no demo, no dashboard, rate
// limits off) and polls its warehouse from before the first request until
// every accepted ping is in `pings FINAL`.
func allInOne(ctx context.Context, cfg Config, r *Round) (err error) {
	dir, remove, err := tempDir(cfg, "all-in-one")
	if err != nil {
		return err
	}
	defer remove()
	addrs, err := lifecycle.FreeLoopbackAddrs(3)
	if err != nil {
		return err
	}
	httpAddr, natsAddr, chAddr := addrs[0], addrs[1], addrs[2]
	run, err := startProc(dir, "serviceping-run", filepath.Join(cfg.bin, "serviceping"),
		[]string{"run", "--data", filepath.Join(dir, "data"), "--http", httpAddr, "--nats-listen", natsAddr,
			"--clickhouse-listen", chAddr, "--ui", "", "--no-demo"},
		[]string{
			// Embedded NATS and ClickHouse and the lake under --data, whatever
			// the shell points at (an empty variable counts as unset).
			"NATS_URL=", "CLICKHOUSE_URL=", "LAKE_URL=",
			"GATEWAY_RATE_PER_IP=0", "GATEWAY_RATE_PER_UUID=0",
		})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, run.stop(stopGrace)) }()
	gateway := "http://" + httpAddr
	if err := run.waitHTTP(ctx, gateway+"/readyz", cfg.StartTimeout); err != nil {
		return err
	}
	wh := warehouse{url: "http://" + chAddr, client: &http.Client{Timeout: 30 * time.Second}}
	if err := wh.waitTables(ctx, cfg.StartTimeout); err != nil {
		return run.failed(err)
	}

	rss := sampleRSS(map[string]int{"all": run.pid()}, cfg.RSSInterval)
	r.AllInOne, r.E2E, err = endToEnd(ctx, cfg, wh, gateway)
	rss.stop()
	r.AllInOneRSS, r.AllInOneEndRSS = rss.Peak("all"), rss.Last("all")
	if err != nil {
		return run.failed(err)
	}
	return run.exited()
}

// E2E is an end-to-end measurement: from the first request until every
// accepted ping was in `pings FINAL`.
type E2E struct {
	Took time.Duration
	// Queryable counts the pings in `pings FINAL` at the end; MetricRows
	// the rows of `ping_metrics FINAL`.
	Queryable, MetricRows int64
	// LagP50 and LagP95 are ping→queryable: from the gateway receiving a
	// ping (its received_at) to the first poll that found it.
	LagP50, LagP95 time.Duration
}

// Rate is the end-to-end pings per second.
func (e E2E) Rate() float64 { return perSecond(e.Queryable, e.Took) }

// RowRate is the metric rows per second end to end.
func (e E2E) RowRate() float64 { return perSecond(e.MetricRows, e.Took) }

// endToEnd posts the pings to gateway while it polls wh, from before the
// first request until every accepted ping is in `pings FINAL` (within
// cfg.Timeout of the first request).
func endToEnd(ctx context.Context, cfg Config, wh warehouse, gateway string) (Load, E2E, error) {
	pctx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	w := newWatcher(wh, cfg.Poll)
	polled := make(chan error, 1)
	go func() { polled <- w.run(pctx) }()

	var first time.Time
	l, err := post(ctx, cfg, gateway, func(t time.Time) { first = t })
	if err != nil {
		stopPolling()
		<-polled
		return l, E2E{}, err
	}
	w.expect(l.Accepted)
	select {
	case err = <-polled:
	case <-time.After(time.Until(first.Add(cfg.Timeout))):
		stopPolling()
		err = fmt.Errorf("%d of %d accepted pings queryable %s after the first request (the polling: %w)", w.seen(), l.Accepted, cfg.Timeout, <-polled)
	}
	if err != nil {
		return l, E2E{}, err
	}
	e := E2E{Took: w.doneAt.Sub(first), Queryable: w.final, LagP50: w.lag(0.50), LagP95: w.lag(0.95)}
	e.MetricRows, err = wh.count(ctx, "SELECT count() FROM serviceping.ping_metrics FINAL")
	return l, e, err
}

// warehouse is a ClickHouse HTTP endpoint: the all-in-one's embedded one,
// or `serviceping warehouse`.
type warehouse struct {
	url    string
	client *http.Client
}

// query runs sql and returns the answer's body.
func (w warehouse) query(ctx context.Context, sql string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url+"/?"+url.Values{"database": {"serviceping"}}.Encode(), strings.NewReader(sql))
	if err != nil {
		return nil, err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query the warehouse: %w", err)
	}
	defer discard(resp.Body)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read the warehouse's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the warehouse answered %d to %q: %.300s", resp.StatusCode, sql, b)
	}
	return b, nil
}

// count runs a query answering one number.
func (w warehouse) count(ctx context.Context, sql string) (int64, error) {
	b, err := w.query(ctx, sql)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q answered %q, not a count", sql, b)
	}
	return n, nil
}

// waitTables polls until the loader has created the tables.
func (w warehouse) waitTables(ctx context.Context, timeout time.Duration) error {
	return poll(ctx, timeout, "the warehouse's tables", func(ctx context.Context) error {
		_, err := w.count(ctx, "SELECT count() FROM serviceping.pings")
		return err
	})
}

// watcher polls the warehouse for the pings it holds: when each was first
// seen and when the gateway received it.
type watcher struct {
	wh   warehouse
	poll time.Duration

	mu     sync.Mutex
	lags   map[string]time.Duration // ping_id → first poll seeing it − received_at
	want   int64                    // accepted pings; 0 until known
	final  int64                    // pings FINAL when done
	doneAt time.Time                // the start of the poll that found every ping
}

func newWatcher(wh warehouse, poll time.Duration) *watcher {
	return &watcher{wh: wh, poll: poll, lags: map[string]time.Duration{}}
}

// expect sets how many pings the run waits for.
func (w *watcher) expect(n int64) {
	w.mu.Lock()
	w.want = n
	w.mu.Unlock()
}

// seen is how many distinct pings were found so far.
func (w *watcher) seen() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.lags)
}

// run polls every w.poll until every expected ping is in `pings FINAL`
// (nil), or ctx ends (its error, with the last failed query's: a query
// that fails, as one may while the engine is busy, is asked again at the
// next poll).
func (w *watcher) run(ctx context.Context) error {
	var last error
	for {
		at := time.Now()
		done, err := w.check(ctx, at)
		if done {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last failed query: %w)", ctx.Err(), last)
			}
			return ctx.Err()
		case <-time.After(time.Until(at.Add(w.poll))):
		}
	}
}

// check is one poll at at: it reads the pings (once) and, when as many as
// expected were seen, counts them FINAL; done once they are all there.
func (w *watcher) check(ctx context.Context, at time.Time) (done bool, err error) {
	if err := w.once(ctx, at); err != nil {
		return false, err
	}
	w.mu.Lock()
	want, seen := w.want, int64(len(w.lags))
	w.mu.Unlock()
	if want == 0 || seen < want {
		return false, nil
	}
	n, err := w.wh.count(ctx, "SELECT count() FROM serviceping.pings FINAL")
	if err != nil || n < want {
		return false, err
	}
	w.mu.Lock()
	w.final, w.doneAt = n, at
	w.mu.Unlock()
	return true, nil
}

// once reads every ping's id and receive time; a ping not seen before was
// queryable at the latest at, the poll's start.
func (w *watcher) once(ctx context.Context, at time.Time) error {
	b, err := w.wh.query(ctx, "SELECT ping_id, toUnixTimestamp64Milli(received_at) FROM serviceping.pings FORMAT TSV")
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		id, ms, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			return fmt.Errorf("unexpected row %q", sc.Text())
		}
		if _, known := w.lags[id]; known {
			continue
		}
		received, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			return fmt.Errorf("received_at %q: %w", ms, err)
		}
		w.lags[id] = at.Sub(time.UnixMilli(received))
	}
	return sc.Err()
}

// lag is the q-quantile of ping→queryable.
func (w *watcher) lag(q float64) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	lags := make([]time.Duration, 0, len(w.lags))
	for _, l := range w.lags {
		lags = append(lags, l)
	}
	return percentile(lags, q)
}
