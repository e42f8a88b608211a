package warehouse

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/serviceping/serviceping/pkg/lifecycle"
)

// The engine's child process (see Supervisor) is the program's own
// executable started with childEnv set to its childSpec. It inherits three
// descriptors from the supervisor: the endpoint's listener, a loopback
// listener for its metrics, and a pipe on which it reports, once serving,
// its engine version.
const (
	childEnv = "SERVICEPING_WAREHOUSE_CHILD"

	childListenerFD = 3
	childMetricsFD  = 4
	childReadyFD    = 5
)

// childSpec is what the supervisor tells its child.
type childSpec struct {
	Path     string     `json:"path"`
	Config   Config     `json:"config"`
	LogLevel slog.Level `json:"log_level"`
}

// childReady is the child's report on its ready pipe.
type childReady struct {
	Version string `json:"version"`
}

// RunIfChild serves the engine and exits when this process was started by
// a Supervisor; otherwise it returns at once. Every program that starts a
// Supervisor — serviceping's main and the TestMain of test packages that
// start the all-in-one — calls it first, before anything else runs.
func RunIfChild() {
	spec, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	if err := runChild(spec); err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("embedded ClickHouse stopped", "err", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runChild is the child's life: open the engine on the inherited listener,
// report ready, serve until SIGTERM or SIGINT (the supervisor's stop).
func runChild(raw string) error {
	var spec childSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return fmt.Errorf("read %s: %w", childEnv, err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: spec.LogLevel}))
	// Under memory pressure the kernel is to kill the engine, which the
	// supervisor restarts, rather than the process accepting pings.
	if err := os.WriteFile("/proc/self/oom_score_adj", []byte("1000"), 0); err != nil {
		log.Warn("cannot make the engine the kernel's first choice when memory runs out", "err", err)
	}
	if err := renice(spec.Config.Nice); err != nil { // the engine keeps its MemoryWorker at -20 itself
		log.Warn("cannot lower the engine's CPU priority", "nice", spec.Config.Nice, "err", err)
	}
	ln, err := net.FileListener(os.NewFile(childListenerFD, "warehouse-listener"))
	if err != nil {
		return fmt.Errorf("inherited listener: %w", err)
	}
	mln, err := net.FileListener(os.NewFile(childMetricsFD, "warehouse-metrics"))
	if err != nil {
		return fmt.Errorf("inherited metrics listener: %w", err)
	}
	// The engine's own metrics, and its process's memory and CPU as
	// serviceping_warehouse_process_*: the supervisor serves them with the
	// pipeline's (whose Go and process metrics are its own).
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "serviceping_warehouse"}))
	s, err := openOn(spec.Config, spec.Path, ln, log, reg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		if err := lifecycle.SmallHTTP(log).Serve(ctx, mln, lifecycle.MetricsHandler(reg, nil)); err != nil && ctx.Err() == nil {
			log.Warn("engine metrics listener stopped", "err", err)
		}
	}()
	ready := os.NewFile(childReadyFD, "warehouse-ready")
	err = json.NewEncoder(ready).Encode(childReady{Version: s.Version()})
	ready.Close()
	if err != nil {
		s.engine.Close()
		return fmt.Errorf("report ready: %w", err)
	}
	return s.Serve(ctx)
}

// minLevel is the lowest level log writes.
func minLevel(log *slog.Logger) slog.Level {
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if log.Enabled(context.Background(), l) {
			return l
		}
	}
	return slog.LevelError
}

// relayLogs writes the child's log lines (JSON, one record a line) to log,
// keeping their level, message and attributes; other lines — the engine's
// own output — are logged as they are.
func relayLogs(r io.Reader, log *slog.Logger) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil {
			if s := strings.TrimSpace(string(line)); s != "" {
				log.Info("engine output", "line", s)
			}
			continue
		}
		var level slog.Level
		if s, ok := rec[slog.LevelKey].(string); !ok || level.UnmarshalText([]byte(s)) != nil {
			level = slog.LevelInfo
		}
		msg, _ := rec[slog.MessageKey].(string)
		attrs := make([]slog.Attr, 0, len(rec))
		for k, v := range rec {
			if k != slog.LevelKey && k != slog.MessageKey && k != slog.TimeKey {
				attrs = append(attrs, slog.Any(k, v))
			}
		}
		log.LogAttrs(context.Background(), level, msg, attrs...)
	}
}

// errNotReady is a child that exited before reporting ready.
var errNotReady = errors.New("the engine's process exited before it was ready (does the program call warehouse.RunIfChild first?)")

// childGatherer gathers the running child's metrics from its metrics
// listener, so that they appear among the pipeline's own; nothing while no
// child serves.
type childGatherer struct {
	url    string
	client *http.Client
}

func (g childGatherer) Gather() ([]*dto.MetricFamily, error) {
	resp, err := g.client.Get(g.url)
	if err != nil {
		return nil, nil // the engine is restarting: its metrics are absent, not an error of the pipeline's
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("engine metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("engine metrics: %w", err)
	}
	out := make([]*dto.MetricFamily, 0, len(families))
	for _, name := range slices.Sorted(maps.Keys(families)) {
		out = append(out, families[name])
	}
	return out, nil
}

// renice gives every thread of this process the niceness nice, before the
// engine starts the threads of its own, which inherit it from the thread
// that creates them. (On Linux a niceness belongs to a thread: setting the
// process's would change only the calling thread.)
func renice(nice int) error {
	if nice == 0 {
		return nil
	}
	// Twice: a thread the runtime starts during the first pass is caught
	// by the second.
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("list the process's threads: %w", err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil {
				return fmt.Errorf("set the niceness of thread %d: %w", tid, err)
			}
		}
	}
	return nil
}
