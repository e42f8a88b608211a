package warehouse

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/testinfra"
)

// TestMain lets the test binary serve as the engine's process.
func TestMain(m *testing.M) {
	RunIfChild()
	os.Exit(m.Run())
}

// supervised runs a Supervisor on a temporary data path until the test
// ends, and waits for its engine.
func supervised(t *testing.T, cfg SupervisorConfig) (*Supervisor, *prometheus.Registry) {
	t.Helper()
	testinfra.Env(t, "CHDB_LIB")
	cfg.Path, cfg.Listen = t.TempDir(), "127.0.0.1:0"
	if cfg.Engine == (Config{}) {
		cfg.Engine = mustDefaults(t)
	}
	reg := prometheus.NewRegistry()
	s, err := NewSupervisor(cfg, SupervisorDeps{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("supervisor: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	rctx, rcancel := context.WithTimeout(ctx, time.Minute)
	defer rcancel()
	if err := s.Ready(rctx); err != nil {
		t.Fatal(err)
	}
	return s, reg
}

// fresh opens a connection per request: a kept-alive connection to an
// engine that was killed fails, as to any server that went away.
var fresh = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// query posts sql to the endpoint and returns the answer's body.
func query(t *testing.T, base, sql string) (int, string) {
	t.Helper()
	resp, err := fresh.Post(base+"/?query="+url.QueryEscape(sql), "text/plain", nil)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read the answer: %v", sql, err)
	}
	return resp.StatusCode, string(b)
}

func mustQuery(t *testing.T, base, sql string) string {
	t.Helper()
	code, body := query(t, base, sql)
	if code != http.StatusOK {
		t.Fatalf("%s: %d %s", sql, code, body)
	}
	return body
}

// TestSupervisorRestartsKilledEngine: the engine killed outright is started
// again on the same address with its data; a request sent while it was down
// waits in the socket's queue and is answered by the new engine.
func TestSupervisorRestartsKilledEngine(t *testing.T) {
	s, reg := supervised(t, SupervisorConfig{})
	mustQuery(t, s.URL, "CREATE TABLE default.kept (n UInt32) ENGINE = MergeTree ORDER BY n")
	mustQuery(t, s.URL, "INSERT INTO default.kept SELECT number FROM numbers(1000)")
	if s.Version() == "" {
		t.Fatal("no engine version")
	}
	first := s.PID()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Sent at once: the engine is dead or restarting.
	if got := mustQuery(t, s.URL, "SELECT count() FROM default.kept"); strings.TrimSpace(got) != "1000" {
		t.Fatalf("after the restart the table holds %q rows, want 1000", got)
	}
	if s.PID() == first || s.PID() == 0 {
		t.Fatalf("engine pid %d after killing %d", s.PID(), first)
	}
	if got := testinfra.Metric(t, reg, "serviceping_warehouse_engine_restarts_total", nil); got != 1 {
		t.Fatalf("restarts_total = %v, want 1", got)
	}
	if got := testinfra.Metric(t, reg, "serviceping_warehouse_engine_up", nil); got != 1 {
		t.Fatalf("engine_up = %v, want 1", got)
	}
	// The engine's own metrics are gathered through the supervisor.
	families, err := s.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, n := range []string{"serviceping_chhttp_queries_total", "serviceping_warehouse_process_resident_memory_bytes"} {
		if !names[n] {
			t.Errorf("the engine's metrics lack %s (have %v)", n, names)
		}
	}
}

// TestSupervisorBoundsEngineMemory: with the engine's total memory bounded,
// a statement that lifts its own limit still fails with ClickHouse's
// "(total) memory limit exceeded" instead of growing the process, and the
// engine keeps answering.
func TestSupervisorBoundsEngineMemory(t *testing.T) {
	t.Setenv("WAREHOUSE_MAX_SERVER_MEMORY_USAGE", "600000000")
	s, reg := supervised(t, SupervisorConfig{})
	code, body := query(t, s.URL, "SELECT length(groupArray(number)) FROM numbers(300000000) SETTINGS max_memory_usage = 0")
	if code != http.StatusInternalServerError || !strings.Contains(body, "MEMORY_LIMIT_EXCEEDED") || !strings.Contains(body, "(total)") {
		t.Fatalf("unbounded statement: %d %s", code, body)
	}
	if got := mustQuery(t, s.URL, "SELECT 1"); strings.TrimSpace(got) != "1" {
		t.Fatalf("SELECT 1 = %q", got)
	}
	if got := testinfra.Metric(t, reg, "serviceping_warehouse_engine_restarts_total", nil); got != 0 {
		t.Fatalf("the engine restarted %v times", got)
	}
}

// TestEngineNiceness: every thread of the engine's process — the engine's
// own, started after the renice, and a query's — runs at WAREHOUSE_NICE,
// while the supervising process keeps its priority. The one exception is
// the engine's own: ClickHouse raises its MemoryWorker thread, which keeps
// the memory accounting its limits rely on, to -20 itself.
func TestEngineNiceness(t *testing.T) {
	t.Setenv("WAREHOUSE_NICE", "7")
	s, _ := supervised(t, SupervisorConfig{})
	mustQuery(t, s.URL, "SELECT count() FROM numbers(10000000) WHERE number % 7 = 1")
	threads := niceness(t, s.PID())
	if len(threads) < 4 {
		t.Fatalf("the engine has %d threads", len(threads))
	}
	for tid, n := range threads {
		c, _ := os.ReadFile("/proc/" + strconv.Itoa(s.PID()) + "/task/" + strconv.Itoa(tid) + "/comm")
		if name := string(bytes.TrimSpace(c)); n != 7 && name != "MemoryWorker" {
			t.Errorf("engine thread %d (%s) runs at nice %d, want 7", tid, name, n)
		}
	}
	if n := niceness(t, os.Getpid())[os.Getpid()]; n != 0 {
		t.Errorf("the supervising process runs at nice %d", n)
	}
}

// niceness is the nice value of each thread of process pid (field 19 of
// /proc/<pid>/task/<tid>/stat, after the command's closing parenthesis).
func niceness(t *testing.T, pid int) map[int]int {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int{}
	for _, task := range tasks {
		b, err := os.ReadFile(dir + "/" + task.Name() + "/stat")
		if err != nil {
			continue // the thread ended
		}
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		tid, _ := strconv.Atoi(task.Name())
		n, err := strconv.Atoi(fields[16]) // state is field 3; nice is field 19
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		out[tid] = n
	}
	return out
}

// TestSupervisorStopsEngine: ending Run stops the engine's process.
func TestSupervisorStopsEngine(t *testing.T) {
	testinfra.Env(t, "CHDB_LIB")
	s, err := NewSupervisor(SupervisorConfig{Path: t.TempDir(), Listen: "127.0.0.1:0", Engine: mustDefaults(t)},
		SupervisorDeps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	pid := s.PID()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Fatalf("engine process %d still exists after Run returned (kill 0: %v)", pid, err)
	}
}

// TestSupervisorReportsBrokenEngine: a program that exits without serving
// fails Run and Ready at once with the reason, instead of being restarted
// forever.
func TestSupervisorReportsBrokenEngine(t *testing.T) {
	s, err := NewSupervisor(SupervisorConfig{Path: t.TempDir(), Listen: "127.0.0.1:0", Program: "/bin/false", Engine: mustDefaults(t)},
		SupervisorDeps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	err = s.Ready(ctx)
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("Ready: %v", err)
	}
}

func mustDefaults(t *testing.T) Config {
	t.Helper()
	c, err := LoadConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
