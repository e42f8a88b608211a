package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

// hogEnv makes the test binary a process that holds hogMiB of touched
// memory (and, with hogChildEnv, starts one more such process below it),
// prints "ready" once its whole tree holds it, and exits when its stdin
// closes: a process tree of known resident memory for the RSS sampler.
const (
	hogEnv      = "BENCH_TEST_HOG"
	hogChildEnv = "BENCH_TEST_HOG_CHILD"
	hogMiB      = 64
)

func TestMain(m *testing.M) {
	if os.Getenv(hogEnv) != "" {
		hog()
		return
	}
	os.Exit(m.Run())
}

func hog() {
	mem := make([]byte, hogMiB<<20)
	for i := range mem { // touched, so resident
		mem[i] = byte(i)
	}
	var child *exec.Cmd
	if os.Getenv(hogChildEnv) != "" {
		child = exec.Command(os.Args[0])
		child.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, hogChildEnv+"=") })
		in, _ := child.StdinPipe()
		out, _ := child.StdoutPipe()
		if err := child.Start(); err != nil {
			fmt.Println("child:", err)
			os.Exit(1)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		if line != "ready\n" {
			fmt.Println("child said", line)
			os.Exit(1)
		}
		defer func() { in.Close(); _ = child.Wait() }()
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	fmt.Fprint(io.Discard, mem[len(mem)-1]) // held until here
}

// startHog starts a hog process tree (two processes with child) and
// returns its root's pid and the function that ends it.
func startHog(t *testing.T, child bool) (int, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), hogEnv+"=1")
	if child {
		cmd.Env = append(cmd.Env, hogChildEnv+"=1")
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != "ready\n" {
			t.Fatalf("the memory hog said %q", line)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the memory hog not ready within 30s")
	}
	var once sync.Once
	end := func() {
		once.Do(func() {
			in.Close()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(end)
	return cmd.Process.Pid, end
}

// TestRSSOfProcessTree: the sampler's peak of a process that holds 64 MiB
// is at least that and well under twice it; of a process with a child
// holding as much, at least twice (the child counted); a process gone
// counts nothing.
func TestRSSOfProcessTree(t *testing.T) {
	const mib = 1 << 20
	one, endOne := startHog(t, false)
	two, endTwo := startHog(t, true)
	s := sampleRSS(map[string]int{"one": one, "two": two}, 20*time.Millisecond)
	testinfra.Eventually(t, 5*time.Second, "the two-process tree's memory sampled", func() error {
		if p := s.Peak("two"); p < 2*hogMiB*mib {
			return fmt.Errorf("peak %.1f MiB, want at least %d MiB", float64(p)/mib, 2*hogMiB)
		}
		return nil
	})
	s.stop()
	if p := s.Peak("one"); p < hogMiB*mib || p > (2*hogMiB-16)*mib {
		t.Errorf("peak RSS of one process holding %d MiB: %.1f MiB", hogMiB, float64(p)/mib)
	}
	if p := s.Peak("two"); p < 2*hogMiB*mib {
		t.Errorf("peak RSS of a process and its child each holding %d MiB: %.1f MiB, want at least %d MiB", hogMiB, float64(p)/mib, 2*hogMiB)
	}
	if d := descendants(two); len(d) != 2 {
		t.Errorf("descendants of the two-process tree: %v", d)
	}
	endOne()
	endTwo()
	if got := treeRSS(one); got != 0 {
		t.Errorf("RSS of a process that ended: %d", got)
	}
}

// TestPercentile: the element at ⌊q·n⌋ of the sorted values, as the load
// generator computes p50 and p99; the input keeps its order.
func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 200; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	rand.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	orig := slices.Clone(ds)
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 101 * time.Millisecond}, {0.95, 191 * time.Millisecond}, {0.99, 199 * time.Millisecond}, {0.999, 200 * time.Millisecond}} {
		if got := percentile(ds, c.q); got != c.want {
			t.Errorf("percentile(1..200 ms, %v) = %s, want %s", c.q, got, c.want)
		}
	}
	if !slices.Equal(ds, orig) {
		t.Error("percentile reordered its input")
	}
	if got := percentile(nil, 0.95); got != 0 {
		t.Errorf("percentile of nothing = %s", got)
	}
	if got := percentile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("percentile of one value = %s", got)
	}
}

// TestFigures: the table's number formats.
func TestFigures(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{thousands(8700.4), "8,700"}, {thousands(999.5), "1,000"}, {thousands(1234567), "1,234,567"}, {thousands(12), "12"}, {thousands(-4321), "-4,321"},
		{dur(float64(620 * time.Microsecond)), "0.62 ms"}, {dur(float64(74 * time.Millisecond)), "74 ms"}, {dur(float64(9500 * time.Millisecond)), "9.5 s"},
		{size(124_300), "124 kB"}, {size(25.6e6), "26 MB"}, {size(2.345e9), "2.35 GB"},
		{spread([]float64{1600, 2100.2}, thousands), "1,600–2,100"}, {spread([]float64{551.2, 550.8}, thousands), "551"}, {spread(nil, thousands), "—"}, {spread([]float64{24e6, 26e6}, size), "24–26 MB"}, {spread([]float64{900e6, 1.2e9}, size), "900 MB–1.20 GB"},
		{gib(24 << 30), "24.0 GiB"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// TestMarkdown: the report of two rounds with known figures: the machine,
// the binaries, one row per path with the ranges over the rounds and the
// ratios of each round against the limit of the same round, one row per
// round.
func TestMarkdown(t *testing.T) {
	load := func(rate float64, p50, p99 time.Duration) Load {
		return Load{Sent: 3000, Accepted: 3000, Bytes: 3000 * 124_000, Elapsed: time.Duration(3000 / rate * float64(time.Second)), P50: p50, P99: p99}
	}
	rep := Report{
		Config:  Config{Bins: []string{"bin", "after"}, Pings: 3000, Rounds: 2, Concurrency: 8, Instances: 500, Poll: 500 * time.Millisecond, RSSInterval: 200 * time.Millisecond},
		Machine: Machine{Cores: 2, CPU: "Test CPU", MemTotal: 24 << 30, Kernel: "6.1", Load: "0.10 0.20 0.30"},
		Started: time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC), Took: 150 * time.Second, LoadAfter: "1.00 1.10 1.20",
	}
	rounds := []Round{{
		HTTP: load(10000, time.Millisecond, 3*time.Millisecond), Raw: load(5000, 1500*time.Microsecond, 6*time.Millisecond), RawNATSRSS: 300e6,
		Gateway: load(2000, 4*time.Millisecond, 20*time.Millisecond), GatewayRSS: 25e6, GatewayNATSRSS: 310e6,
		AllInOne:    load(500, 10*time.Millisecond, 70*time.Millisecond),
		E2E:         E2E{Took: 20 * time.Second, Queryable: 3000, MetricRows: 7_800_000, LagP50: 4 * time.Second, LagP95: 9 * time.Second},
		AllInOneRSS: 2.2e9, AllInOneEndRSS: 1.9e9, Load: "0.10 0.20 0.30",
		Distributed:    load(1000, 6*time.Millisecond, 30*time.Millisecond),
		DistributedE2E: E2E{Took: 30 * time.Second, Queryable: 3000, MetricRows: 7_800_000, LagP50: 5 * time.Second, LagP95: 12 * time.Second},
		DistributedRSS: map[string]int64{"gateway-1": 30e6, "enricher-1": 60e6, "loader-1": 300e6, "nats-1": 250e6, "warehouse": 900e6},
	}, {
		HTTP: load(8000, time.Millisecond, 4*time.Millisecond), Raw: load(4000, 1500*time.Microsecond, 7*time.Millisecond), RawNATSRSS: 320e6,
		Gateway: load(1800, 5*time.Millisecond, 22*time.Millisecond), GatewayRSS: 26e6, GatewayNATSRSS: 330e6,
		AllInOne:    load(600, 11*time.Millisecond, 80*time.Millisecond),
		E2E:         E2E{Took: 15 * time.Second, Queryable: 3000, MetricRows: 7_800_000, LagP50: 3 * time.Second, LagP95: 7500 * time.Millisecond},
		AllInOneRSS: 2.4e9, AllInOneEndRSS: 1.8e9, Load: "2.50 1.00 0.50",
		Distributed:    load(1200, 5*time.Millisecond, 25*time.Millisecond),
		DistributedE2E: E2E{Took: 20 * time.Second, Queryable: 3000, MetricRows: 7_800_000, LagP50: 4 * time.Second, LagP95: 10 * time.Second},
		DistributedRSS: map[string]int64{"gateway-1": 32e6, "enricher-1": 70e6, "loader-1": 350e6, "nats-1": 260e6, "warehouse": 1.1e9},
	}}
	rep.Builds = []Build{
		{Bin: "bin", Versions: []string{"gateway v1", "serviceping v1"}, Rounds: rounds},
		{Bin: "after", Versions: []string{"gateway v2", "serviceping v2"}, Rounds: rounds[1:]},
	}
	var b strings.Builder
	if err := rep.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if i, j := strings.Index(out, "(bin)\n"), strings.Index(out, "(after)\n"); i < 0 || j < i {
		t.Errorf("the builds' tables are not in the order of Bins:\n%s", out)
	}
	for _, want := range []string{
		"### serviceping bench: 3,000 full-size pings, 2 rounds\n",
		"- machine: 2 cores (Test CPU), 24.0 GiB RAM, Linux 6.1; load average 0.10 0.20 0.30 at the start, 1.00 1.10 1.20 at the end\n",
		"124 kB on average (372 MB in all), from 500 installations; 8 requests in flight; every measurement on fresh servers and directories; each round measures the builds in turn, in the order below; run 2026-11-27 20:00 UTC, took 2m30s\n",
		"\n#### gateway v1, serviceping v1 (bin)\n\n| path | pings/s | latency | ratio | peak RSS |\n",
		"\n#### gateway v2, serviceping v2 (after)\n\n| path | pings/s | latency | ratio | peak RSS |\n",
		"| path | pings/s | latency | ratio | peak RSS |\n|---|---|---|---|---|\n",
		"| trivial Go HTTP server, same load generator | 8,000–10,000 | p50 1.00 ms, p99 3.00–4.00 ms | the HTTP ceiling | — |\n",
		"| raw JetStream publish of the same bodies, file storage, 8 concurrent sync publishers | 4,000–5,000 | p50 1.50 ms, p99 6.00–7.00 ms | 0.50 of HTTP | nats-server 300–320 MB |\n",
		"| standalone gateway on a standalone nats-server | 1,800–2,000 | p50 4.00–5.00 ms, p99 20–22 ms | 0.40–0.45 of raw JetStream | gateway 25–26 MB, nats-server 310–330 MB |\n",
		"| all-in-one `serviceping run`, accepted | 500–600 | p50 10–11 ms, p99 70–80 ms | 0.10–0.15 of raw JetStream | — |\n",
		"| all-in-one, end to end (first request until all 3,000 in `pings FINAL`) | 150–200 (390,000–520,000 metric rows/s) | ping→queryable p50 3.0–4.0 s, p95 7.5–9.0 s | 0.03–0.05 of raw JetStream | all processes 2.20–2.40 GB (1.80–1.90 GB at the end) |\n",
		"| 1 | 0.10 0.20 0.30 | 10,000 | 5,000 | 2,000 | 500 | 3,000 in 20.0 s: 150 | 7,800,000 | 9.0 s | 25 MB / 310 MB / 2.20 GB |\n",
		"| 2 | 2.50 1.00 0.50 | 8,000 | 4,000 | 1,800 | 600 | 3,000 in 15.0 s: 200 | 7,800,000 | 7.5 s | 26 MB / 330 MB / 2.40 GB |\n",
		"| distributed, each stage its own process (one nats-server, `serviceping warehouse`), end to end | 100–150 (260,000–390,000 metric rows/s); accepted 1,000–1,200 | ping→queryable p50 4.0–5.0 s, p95 10.0–12.0 s | 0.02–0.04 of raw JetStream | gateway 30–32 MB, enricher 60–70 MB, loader 300–350 MB, nats-server 250–260 MB, warehouse 900 MB–1.10 GB |\n",
		"| round | distributed end to end | p95 ping→queryable | peak RSS gateway / enricher / loader / nats-server / warehouse |\n|---|---|---|---|\n| 1 | 3,000 in 30.0 s: 100 | 12.0 s | 30 MB / 60 MB / 300 MB / 250 MB / 900 MB |\n| 2 | 3,000 in 20.0 s: 150 | 10.0 s | 32 MB / 70 MB / 350 MB / 260 MB / 1.10 GB |\n",
		"polled every 500ms", "sampled every 200ms", "each process of the distributed topology on its own",
		// the second build's table, of its one round
		"| all-in-one `serviceping run`, accepted | 600 | p50 11 ms, p99 80 ms | 0.15 of raw JetStream | — |\n",
		"| 1 | 2.50 1.00 0.50 | 8,000 | 4,000 | 1,800 | 600 | 3,000 in 15.0 s: 200 | 7,800,000 | 7.5 s | 26 MB / 330 MB / 2.40 GB |\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q; it is:\n%s", want, out)
		}
	}
}

// fakeWarehouse answers the watcher's two queries: the pings' ids and
// receive times (one more ping visible at each poll, ping 0 listed twice
// as an unmerged copy would be) and the count of pings FINAL.
type fakeWarehouse struct {
	mu       sync.Mutex
	polls    int
	received time.Time
	total    int
	// failFirst queries are answered 503.
	failFirst int
}

func (f *fakeWarehouse) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	sql := string(b)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failFirst > 0 {
		f.failFirst--
		http.Error(w, "engine busy", http.StatusServiceUnavailable)
		return
	}
	visible := min(f.polls, f.total)
	switch {
	case strings.Contains(sql, "FINAL"):
		fmt.Fprintln(w, visible)
	case strings.Contains(sql, "ping_id"):
		f.polls++
		for i := range visible {
			fmt.Fprintf(w, "ping-%d\t%d\n", i, f.received.UnixMilli())
		}
		if visible > 0 {
			fmt.Fprintf(w, "ping-0\t%d\n", f.received.UnixMilli())
		}
	default:
		http.Error(w, "unexpected query "+sql, http.StatusBadRequest)
	}
}

// watch runs a watcher expecting want pings against fw, polling every 10
// ms, for at most timeout.
func watch(t *testing.T, fw *fakeWarehouse, want int64, timeout time.Duration) (*watcher, error) {
	srv := httptest.NewServer(fw)
	t.Cleanup(srv.Close)
	w := newWatcher(warehouse{url: srv.URL, client: srv.Client()}, 10*time.Millisecond)
	w.expect(want)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return w, w.run(ctx)
}

// TestWatcher: the watcher polls until as many pings as expected are in
// pings FINAL, counts each ping once, and measures its lag from its
// received_at to the first poll that returned it; when they never are all
// there it polls until its context ends.
func TestWatcher(t *testing.T) {
	fw := &fakeWarehouse{received: time.Now().Add(-10 * time.Second), total: 5}
	w, err := watch(t, fw, 5, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if w.seen() != 5 || w.final != 5 || w.doneAt.IsZero() {
		t.Errorf("seen %d, final %d, done at %v; want 5, 5, a time", w.seen(), w.final, w.doneAt)
	}
	if fw.polls < 6 { // ping 4 shows at the 6th poll
		t.Errorf("%d polls, want at least 6", fw.polls)
	}
	p50, p95 := w.lag(0.5), w.lag(0.95)
	if p50 < 10*time.Second || p95 < p50 || p95 > 15*time.Second {
		t.Errorf("lags p50 %s, p95 %s; want about 10 s, growing with the polls", p50, p95)
	}

	w, err = watch(t, &fakeWarehouse{received: time.Now(), total: 2}, 3, 300*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || w.seen() != 2 {
		t.Errorf("3 expected, 2 there: %v with %d seen, want the context's error and 2", err, w.seen())
	}

	// A query that fails is asked again; when the context ends the error
	// names the last failure.
	fw = &fakeWarehouse{received: time.Now(), total: 3, failFirst: 3}
	if w, err = watch(t, fw, 3, 10*time.Second); err != nil || w.final != 3 {
		t.Errorf("after 3 failed polls: %v, final %d; want every ping found", err, w.final)
	}
	_, err = watch(t, &fakeWarehouse{total: 3, failFirst: 1 << 30}, 3, 200*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "engine busy") {
		t.Errorf("a warehouse that always fails: %v, want the deadline and its answer", err)
	}
}

// TestLoopbackAddrs: distinct free loopback addresses.
func TestLoopbackAddrs(t *testing.T) {
	addrs, err := lifecycle.FreeLoopbackAddrs(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if !strings.HasPrefix(a, "127.0.0.1:") || seen[a] {
			t.Errorf("addresses %v: want distinct 127.0.0.1 ones", addrs)
		}
		if _, err := strconv.Atoi(strings.TrimPrefix(a, "127.0.0.1:")); err != nil {
			t.Errorf("address %q has no port", a)
		}
		seen[a] = true
	}
}
