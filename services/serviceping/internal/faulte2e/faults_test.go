package faulte2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/cli/clitest"
	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/tables"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/loader/lake"
	"github.com/serviceping/serviceping/services/serviceping/internal/client"
	"github.com/serviceping/serviceping/services/serviceping/internal/dashboard"
	"github.com/serviceping/serviceping/services/serviceping/internal/localcluster"
)

// recoveryBound is the promise: after a stage is restarted, every ping
// accepted before is queryable within it.
const recoveryBound = 30 * time.Second

// options are the test's knobs; make soak raises them.
type options struct {
	// Rate is the pings posted per second, across all instances.
	Rate float64 `env:"SERVICEPING_FAULT_RATE, default=2"`
	// Rounds is how many times the faults are injected, one after another.
	Rounds int `env:"SERVICEPING_FAULT_ROUNDS, default=1"`
	// Clients are the instances posting at once.
	Clients int `env:"SERVICEPING_FAULT_CLIENTS, default=8"`
}

// fault is a process killed with SIGKILL at a chosen moment and restarted.
type fault struct {
	name, process string
	// moment waits for the moment to kill it, failing the test when it
	// has not come within momentWait.
	moment func(t *testing.T, c *localcluster.Cluster)
	// down is how long it stays dead before the restart.
	down time.Duration
}

// momentWait bounds the wait for a fault's moment.
const momentWait = time.Minute

// natsDown is how long the NATS server stays dead: long enough for the
// fetch loops to show they back off instead of spinning.
const natsDown = 8 * time.Second

// recovery is a fault's outcome: from the restart to every ping accepted
// before it queryable.
type recovery struct {
	fault    string
	took     time.Duration
	accepted int
}

// TestCrashRecovery: every stage a process, full-size pings posted by
// retrying instances, and meanwhile the loader killed right after a
// Parquet file appears and again while it holds an open batch, the
// enricher while it holds messages, the gateway while a ping is posted,
// each restarted at once, and the NATS server, restarted after natsDown.
// After each restart every ping accepted before it is queryable within
// recoveryBound; at the end no accepted ping is lost, none is shown twice,
// each has one metric row per leaf in ClickHouse and in the lake (by the
// readers' rule), the pull loops backed off while NATS was down, and no
// process stopped on its own.
func TestCrashRecovery(t *testing.T) {
	testinfra.Env(t, "CHDB_LIB")
	var o options
	if err := envconfig.Process(context.Background(), &o); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	bin := clitest.BuildPrograms(t, filepath.Join("..", ".."), localcluster.Programs())

	ctx := context.Background()
	data := t.TempDir()
	directory := slowDirectory(t)
	cl, err := localcluster.Start(ctx, localcluster.Config{
		Bin: bin, NATSServer: filepath.Join(bin, "nats-server"), Data: data,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Nodes: 1, Replicas: 1,
		// Every instance posts from 127.0.0.1 and retries: the per-address
		// limit would refuse them; a 503's Retry-After is kept short.
		// The enricher asks a Licenses API that takes its time.
		Env: []string{"GATEWAY_RATE_PER_IP=0", "GATEWAY_RATE_PER_UUID=0", "GATEWAY_RETRY_AFTER=1s", "DIRECTORY_URL=" + directory},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logTails(t, filepath.Join(data, "logs"))
		}
		if err := cl.Close(); err != nil {
			t.Errorf("stop the processes: %v", err)
		}
	})
	conn, err := chconn.Open(ctx, cl.ClickHouseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	gen, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	l := &load{sender: client.Sender{HTTP: &http.Client{Timeout: 30 * time.Second}, GatewayURL: cl.GatewayURLs[0]},
		gen: gen, accepted: map[string]acceptance{}}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadDone := l.run(loadCtx, o.Rate, o.Clients)
	w := &watcher{t: t, cl: cl, conn: conn}
	testinfra.Eventually(t, 2*time.Minute, "a first ping queryable", func() error {
		got, err := queryable(ctx, conn)
		if err != nil {
			return err
		}
		for id := range l.snapshot() {
			if got[id] {
				return nil
			}
		}
		return errors.New("none yet")
	})
	t.Logf("%s: the pipeline is flowing", time.Since(began).Round(time.Second))

	// Each process is killed while it holds work: the loader a batch just
	// written to the lake, or its open batch; the enricher pings being
	// looked up; the gateway requests; NATS with the loader's open batch.
	openBatch := gaugeAbove("loader-1", "serviceping_loader_open_batch_messages", nil)
	faults := []fault{
		{"loader, after a Parquet file", "loader-1", newParquetFile, 0},
		{"loader, holding an open batch", "loader-1", openBatch, 0},
		{"enricher", "enricher-1", gaugeAbove("enricher-1", "serviceping_consumer_ack_pending_messages", map[string]string{"consumer": "enricher"}), 0},
		{"gateway", "gateway-1", l.posting, 0},
		{"nats", "nats-1", openBatch, natsDown},
	}
	var recoveries []recovery
	for round := range o.Rounds {
		for _, f := range faults {
			r := w.inject(ctx, f, l)
			recoveries = append(recoveries, r)
			t.Logf("%s: round %d: %s killed and restarted; the %d pings accepted before were queryable %.1fs after the restart",
				time.Since(began).Round(time.Second), round+1, f.name, r.accepted, r.took.Seconds())
		}
	}
	stopLoad()
	loadDone()
	lastPost := time.Now()
	accepted := l.snapshot()
	w.waitQueryable(accepted, lastPost, 2*time.Minute, "every accepted ping")
	t.Logf("%s: every accepted ping queryable %.1fs after the last was accepted", time.Since(began).Round(time.Second), time.Since(lastPost).Seconds())
	if err := cl.Exited(); err != nil {
		t.Error(err)
	}

	s := summary{accepted: len(accepted), attempts: l.attempts.Load(), failed: len(l.failures())}
	for _, err := range l.failures() {
		t.Errorf("a ping was never accepted: %v", err)
	}
	checkWarehouse(t, conn, l, &s)
	checkLake(t, cl.LakeURL, l, &s)
	s.loaderFetchWarnings = checkBackoff(t, cl.Find("loader-1").Log, loaderFetchLoops, o.Rounds)
	s.enricherFetchWarnings = checkBackoff(t, cl.Find("enricher-1").Log, enricherFetchLoops, o.Rounds)
	worst := recovery{}
	var figures []string
	for _, r := range recoveries {
		figures = append(figures, fmt.Sprintf("%s %.1fs", r.fault, r.took.Seconds()))
		if r.took > worst.took {
			worst = r
		}
		if r.took > recoveryBound {
			t.Errorf("%s: every ping accepted before the restart queryable only %.1fs after it, over %s", r.fault, r.took.Seconds(), recoveryBound)
		}
	}
	t.Logf("crash recovery: accepted %d (%d posts, %d never accepted), lost %d, visible duplicates %d, pings with incomplete metric rows %d (ClickHouse) %d (lake), lake duplicate ping rows %d; fetch warnings (NATS down %s per round) loader %d, enricher %d; recovery seconds: %s; worst %.1fs (%s); %d rounds at %.1f pings/s in %s",
		s.accepted, s.attempts, s.failed, s.lost, s.duplicates, s.incomplete, s.lakeIncomplete, s.lakeDuplicates,
		natsDown, s.loaderFetchWarnings, s.enricherFetchWarnings,
		strings.Join(figures, ", "), worst.took.Seconds(), worst.fault, o.Rounds, o.Rate, time.Since(began).Round(time.Second))
}

// summary are the figures the test prints.
type summary struct {
	accepted, failed               int
	attempts                       int64
	lost, duplicates, incomplete   int
	lakeIncomplete, lakeDuplicates int
	loaderFetchWarnings            int
	enricherFetchWarnings          int
}

// acceptance is what the test knows of an accepted ping.
type acceptance struct {
	at     time.Time
	leaves int // the metric rows it must have
}

// load posts generated full-size pings, each of its own installation, at a
// steady rate from concurrent instances that retry until accepted.
type load struct {
	sender   client.Sender
	gen      *pinggen.Generator
	attempts atomic.Int64
	inflight atomic.Int64 // pings being posted

	mu       sync.Mutex
	accepted map[string]acceptance // ping_id →
	failed   []error
}

// run posts until ctx ends; the returned func waits for the pings being
// posted then to be accepted.
func (l *load) run(ctx context.Context, rate float64, clients int) (wait func()) {
	work := make(chan int)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(work)
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			select {
			case <-ctx.Done():
				return
			case work <- n:
			}
		}
	})
	for range clients {
		wg.Go(func() {
			for n := range work {
				l.post(n)
			}
		})
	}
	return wg.Wait
}

// post sends installation n's ping until it is accepted, as an instance
// does, within three minutes.
func (l *load) post(n int) {
	spec := pinggen.Spec{Instance: n}
	body := l.gen.JSON(spec)
	id := ping.ID(pinggen.InstanceOf(n).UUID, pinggen.RecordedAt(spec.Week, n))
	leaves, err := countLeaves(body)
	l.inflight.Add(1)
	defer l.inflight.Add(-1)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		var resp client.Response
		var attempts int
		resp, attempts, err = l.sender.SendRetrying(ctx, body, false, client.Retry{Initial: 100 * time.Millisecond, Max: 2 * time.Second})
		cancel()
		l.attempts.Add(int64(attempts))
		if want, _ := ping.UsageDataID(id); err == nil && resp.UsageDataID != want {
			err = fmt.Errorf("usage_data_id %d, want %d", resp.UsageDataID, want)
		}
		if err == nil && resp.Status != http.StatusCreated {
			err = fmt.Errorf("answered %d: %.200s", resp.Status, resp.Body)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed = append(l.failed, fmt.Errorf("installation %d: %w", n, err))
		return
	}
	l.accepted[id] = acceptance{at: time.Now(), leaves: leaves}
}

// posting waits until a ping is being posted.
func (l *load) posting(t *testing.T, _ *localcluster.Cluster) {
	t.Helper()
	testinfra.EventuallyEvery(t, momentWait, time.Millisecond, "a ping being posted", func() error {
		if l.inflight.Load() == 0 {
			return errors.New("none")
		}
		return nil
	})
}

// snapshot is every ping accepted so far.
func (l *load) snapshot() map[string]acceptance {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]acceptance, len(l.accepted))
	for id, a := range l.accepted {
		out[id] = a
	}
	return out
}

func (l *load) failures() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.failed)
}

// countLeaves counts the metric rows the loader makes of a payload, read
// here with encoding/json: a row per scalar, per array (kept as JSON) and
// per empty object below the root.
func countLeaves(payload []byte) (int, error) {
	var root map[string]any
	if err := json.Unmarshal(payload, &root); err != nil {
		return 0, fmt.Errorf("read the generated payload: %w", err)
	}
	var count func(v any) int
	count = func(v any) int {
		m, ok := v.(map[string]any)
		if !ok {
			return 1
		}
		if len(m) == 0 {
			return 1
		}
		n := 0
		for _, c := range m {
			n += count(c)
		}
		return n
	}
	n := 0
	for _, v := range root {
		n += count(v)
	}
	return n, nil
}

// watcher injects faults into the cluster and watches the warehouse.
type watcher struct {
	t    *testing.T
	cl   *localcluster.Cluster
	conn driver.Conn
}

// inject waits for the fault's moment, kills its process, restarts it at
// once and times how long until every ping accepted before the restart is
// queryable.
func (w *watcher) inject(ctx context.Context, f fault, l *load) recovery {
	w.t.Helper()
	p := w.cl.Find(f.process)
	if p == nil {
		w.t.Fatalf("no process %s", f.process)
	}
	if f.moment != nil {
		f.moment(w.t, w.cl)
	}
	w.cl.Kill(p)
	select {
	case <-ctx.Done():
	case <-time.After(f.down): // the outage
	}
	restarted := time.Now()
	before := l.snapshot()
	if _, err := w.cl.Restart(ctx, p); err != nil {
		w.t.Fatalf("%s: restart: %v", f.name, err)
	}
	took := w.waitQueryable(before, restarted, 2*time.Minute, f.name)
	return recovery{fault: f.name, took: took, accepted: len(before)}
}

// waitQueryable polls the warehouse until every ping of want is in it and
// returns the time since from; it fails the test after limit, or at once
// when a process exited on its own.
func (w *watcher) waitQueryable(want map[string]acceptance, from time.Time, limit time.Duration, what string) time.Duration {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	testinfra.EventuallyEvery(w.t, limit, 250*time.Millisecond, what, func() error {
		if err := w.cl.Exited(); err != nil {
			w.t.Fatal(err)
		}
		got, err := queryable(ctx, w.conn)
		if err != nil {
			return err
		}
		missing := 0
		for id := range want {
			if !got[id] {
				missing++
			}
		}
		if missing > 0 || len(want) == 0 {
			return fmt.Errorf("%d of %d pings still not queryable since %s", missing, len(want), from.Format(time.TimeOnly))
		}
		return nil
	})
	return time.Since(from)
}

// queryable is the set of pings in the warehouse.
func queryable(ctx context.Context, conn driver.Conn) (map[string]bool, error) {
	rows, err := conn.Query(ctx, "SELECT DISTINCT ping_id FROM serviceping."+tables.Pings)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// newParquetFile waits for a pings file to appear in the lake.
func newParquetFile(t *testing.T, c *localcluster.Cluster) {
	t.Helper()
	pingsFiles := func() (map[string]bool, error) {
		keys, err := lake.Files(c.LakeURL)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		out := map[string]bool{}
		for _, k := range keys {
			if strings.HasPrefix(k, tables.Pings+"/") {
				out[k] = true
			}
		}
		return out, nil
	}
	before, err := pingsFiles()
	if err != nil {
		t.Fatal(err)
	}
	// "Right after": a tight poll.
	testinfra.EventuallyEvery(t, momentWait, 5*time.Millisecond, "a new Parquet file in "+c.LakeURL, func() error {
		now, err := pingsFiles()
		if err != nil {
			t.Fatal(err)
		}
		for k := range now {
			if !before[k] {
				return nil
			}
		}
		return fmt.Errorf("%d pings files, none new", len(now))
	})
}

// gaugeAbove waits until the sum of process's metric samples whose labels
// include labels is above 0.
func gaugeAbove(process, metric string, labels map[string]string) func(*testing.T, *localcluster.Cluster) {
	return func(t *testing.T, c *localcluster.Cluster) {
		t.Helper()
		g := dashboard.Scrape{URLs: []string{c.Find(process).Listen + "/metrics"}}
		testinfra.EventuallyEvery(t, momentWait, 20*time.Millisecond, fmt.Sprintf("%s%v of %s above 0", metric, labels, process), func() error {
			v, err := testinfra.ReadMetric(g, metric, labels)
			if err == nil && v <= 0 {
				err = fmt.Errorf("%v", v)
			}
			return err
		})
	}
}

// checkWarehouse: the *_latest views show each accepted ping once and
// nothing else, each with one metric row per leaf.
func checkWarehouse(t *testing.T, conn driver.Conn, l *load, s *summary) {
	t.Helper()
	ctx := context.Background()
	accepted := l.snapshot()
	shown := chtest.CountBy(t, conn, "SELECT ping_id, count() FROM serviceping.pings_latest GROUP BY ping_id")
	for id, n := range shown {
		if n > 1 {
			s.duplicates += int(n - 1)
		}
		if _, ok := accepted[id]; !ok {
			t.Errorf("ping %s is in pings_latest but was never accepted", id)
		}
	}
	for id := range accepted {
		if shown[id] == 0 {
			s.lost++
			t.Errorf("accepted ping %s is not in pings_latest", id)
		}
	}
	var rowsShown, distinct uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(ping_id) FROM serviceping.pings_latest").Scan(&rowsShown, &distinct); err != nil {
		t.Fatal(err)
	}
	if rowsShown != distinct || int(distinct) != len(accepted) {
		t.Errorf("pings_latest shows %d rows of %d pings, want %d of %d (the pings accepted)", rowsShown, distinct, len(accepted), len(accepted))
	}
	metricRows := chtest.CountBy(t, conn, "SELECT ping_id, count() FROM serviceping.ping_metrics_latest GROUP BY ping_id")
	keyPaths := chtest.CountBy(t, conn, "SELECT ping_id, uniqExact(key_path) FROM serviceping.ping_metrics_latest GROUP BY ping_id")
	for id, a := range accepted {
		if n, keys := metricRows[id], keyPaths[id]; n != uint64(a.leaves) || keys != uint64(a.leaves) {
			s.incomplete++
			t.Errorf("ping %s: %d metric rows (%d key paths) in ping_metrics_latest, want one per leaf, %d", id, n, keys, a.leaves)
		}
	}
}

// checkLake: by the readers' rule (lake.Dedupe: the largest _version per
// ping_id, its metric rows one per key path) the lake holds every accepted
// ping and nothing else, each with one metric row per leaf. A ping in more
// than one file — a batch redelivered after a crash — is counted, not an
// error: that is what the rule is for.
func checkLake(t *testing.T, dir string, l *load, s *summary) {
	t.Helper()
	accepted := l.snapshot()
	pings, metrics, err := lake.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	latest, latestMetrics := lake.Dedupe(pings, metrics)
	s.lakeDuplicates = len(pings) - len(latest)
	inLake := map[string]bool{}
	for _, p := range latest {
		inLake[p.PingID] = true
		if _, ok := accepted[p.PingID]; !ok {
			t.Errorf("ping %s is in the lake but was never accepted", p.PingID)
		}
	}
	perPing := map[string]int{}
	for _, m := range latestMetrics {
		perPing[m.PingID]++
	}
	for id, a := range accepted {
		if !inLake[id] {
			t.Errorf("accepted ping %s is not in the lake", id)
		}
		if perPing[id] != a.leaves {
			s.lakeIncomplete++
			t.Errorf("ping %s: %d metric rows in the lake by the readers' rule, want one per leaf, %d", id, perPing[id], a.leaves)
		}
	}
}

// slowDirectory serves a Licenses API (services/enricher/api/openapi.yaml)
// that knows no license and takes 250ms to say so, as a remote one may:
// the enricher holds each ping that long.
func slowDirectory(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(250 * time.Millisecond): // the API's latency
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"not_found","message":"no such license"}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// The pull loops that log a warning per failed fetch: the loader's PINGS
// and REPORTS consumers, the enricher's workers (ENRICHER_WORKERS, 4).
const (
	loaderFetchLoops   = 2
	enricherFetchLoops = 4
)

// maxFetchWarnings bounds the warnings one pull loop may log while NATS is
// down for natsDown: backing off 250 ms doubling to 5 s it logs about
// five; one that spins logs thousands.
const maxFetchWarnings = 10

// checkBackoff counts the failed-fetch warnings in a process's log (all
// its runs) and fails the test when there are more than its loops may log
// backing off through the rounds' NATS outages.
func checkBackoff(t *testing.T, log string, loops, rounds int) int {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, `msg="fetch`) {
			n++
		}
	}
	if limit := maxFetchWarnings * loops * rounds; n > limit {
		t.Errorf("%s: %d failed-fetch warnings, more than %d: a pull loop does not back off", log, n, limit)
	}
	return n
}

// logTails prints the end of every process's log.
func logTails(t *testing.T, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Logf("logs: %v", err)
		return
	}
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(f)
		f.Close()
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		t.Logf("--- %s (last lines of %d)\n%s", e.Name(), len(lines), strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
}
