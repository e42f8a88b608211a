package warehouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/metric"
)

// SupervisorConfig is the engine's process as `serviceping run` runs it.
type SupervisorConfig struct {
	// Path is the engine's data directory.
	Path string
	// Listen is the endpoint's address; it stays the same across restarts.
	Listen string
	// Engine tunes the endpoint and bounds the engine's memory.
	Engine Config
	// Program is the executable started as the engine's process; it must
	// call RunIfChild first. Default: this process's executable.
	Program string
	// ReadyTimeout bounds an engine's start; StopTimeout its graceful stop,
	// after which it is killed.
	ReadyTimeout time.Duration
	StopTimeout  time.Duration
	// MinBackoff and MaxBackoff bound the wait before a restart: it doubles
	// after each failure and starts again from MinBackoff once an engine
	// has run for a minute.
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

// SupervisorDeps are what a Supervisor is given.
type SupervisorDeps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// A Supervisor runs the embedded engine in a child process of its own, so
// that nothing a query does to the engine — exhausting memory, crashing it
// — reaches the process that accepts pings. It owns the endpoint's listening
// socket and hands it to each child it starts: while an engine restarts,
// clients' connections wait in the socket's queue instead of being refused,
// and the address never changes. A child that exits is started again after
// a backoff; requests in flight when it died fail (the loader retries its
// batch, as for any ClickHouse outage); sessions and temporary tables are
// lost, the data is not. The engine's memory is bounded by
// WAREHOUSE_MAX_SERVER_MEMORY_USAGE, and the kernel is told to kill it
// first when the machine runs out.
type Supervisor struct {
	// URL is the endpoint's base URL (http://host:port).
	URL string

	cfg      SupervisorConfig
	log      *slog.Logger
	ln       net.Listener
	lnFile   *os.File
	mln      net.Listener
	mlnFile  *os.File
	gatherer childGatherer
	up       prometheus.Gauge
	restarts prometheus.Counter

	version   atomic.Value // string
	pid       atomic.Int64
	ready     chan struct{}
	readyOnce sync.Once
	done      chan struct{}
	runErr    error
}

// Supervisor defaults, for the zero fields of SupervisorConfig.
const (
	defaultReadyTimeout = 2 * time.Minute
	defaultStopTimeout  = 30 * time.Second
	defaultMinBackoff   = 200 * time.Millisecond
	defaultMaxBackoff   = 10 * time.Second
	stableAfter         = time.Minute
)

// NewSupervisor listens on cfg.Listen and registers the supervisor's
// metrics; Run starts the engine.
func NewSupervisor(cfg SupervisorConfig, deps SupervisorDeps) (*Supervisor, error) {
	if err := errors.Join(cfg.Engine.Validate(), cfg.Engine.CheckListen(cfg.Listen)); err != nil {
		return nil, fmt.Errorf("warehouse configuration: %w", err)
	}
	if cfg.Program == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find the program to run the engine: %w", err)
		}
		cfg.Program = exe
	}
	defaults := []struct {
		v *time.Duration
		d time.Duration
	}{{&cfg.ReadyTimeout, defaultReadyTimeout}, {&cfg.StopTimeout, defaultStopTimeout}, {&cfg.MinBackoff, defaultMinBackoff}, {&cfg.MaxBackoff, defaultMaxBackoff}}
	for _, d := range defaults {
		if *d.v <= 0 {
			*d.v = d.d
		}
	}
	var series metric.Set
	s := &Supervisor{
		cfg: cfg, log: deps.Logger, ready: make(chan struct{}), done: make(chan struct{}),
		up: series.Gauge("serviceping_warehouse_engine_up",
			"1 while the embedded ClickHouse engine's process serves, 0 while it (re)starts."),
		restarts: series.Counter("serviceping_warehouse_engine_restarts_total",
			"Times the embedded ClickHouse engine's process exited unexpectedly and was started again."),
	}
	if err := series.Register(deps.Registerer); err != nil {
		return nil, fmt.Errorf("register warehouse supervisor metrics: %w", err)
	}
	var err error
	if s.ln, s.lnFile, err = listenFile(cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen for ClickHouse HTTP on %s: %w", cfg.Listen, err)
	}
	if s.mln, s.mlnFile, err = listenFile("127.0.0.1:0"); err != nil {
		s.Close()
		return nil, fmt.Errorf("listen for the engine's metrics: %w", err)
	}
	s.URL = "http://" + s.ln.Addr().String()
	s.gatherer = childGatherer{url: "http://" + s.mln.Addr().String() + "/metrics", client: &http.Client{Timeout: 5 * time.Second}}
	s.version.Store("")
	return s, nil
}

// listenFile listens on addr and returns the socket also as a file, to be
// inherited by the engine's processes.
func listenFile(addr string) (net.Listener, *os.File, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	return ln, f, nil
}

// Gatherer gathers the running engine's metrics (serviceping_chhttp_*,
// serviceping_warehouse_process_*); nothing while it restarts.
func (s *Supervisor) Gatherer() prometheus.Gatherer { return s.gatherer }

// Version is the engine's ClickHouse version, once it has been ready.
func (s *Supervisor) Version() string { return s.version.Load().(string) }

// PID is the engine's current process id, 0 while none runs.
func (s *Supervisor) PID() int { return int(s.pid.Load()) }

// Ready returns once the first engine serves, or the error that stopped
// Run before that.
func (s *Supervisor) Ready(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-s.done:
		if s.runErr != nil {
			return s.runErr
		}
		return errors.New("the warehouse supervisor stopped before the engine was ready")
	case <-ctx.Done():
		return fmt.Errorf("wait for the embedded ClickHouse to start: %w", ctx.Err())
	}
}

// Run starts the engine and starts it again whenever it exits, until ctx
// ends; then it stops the engine gracefully. It fails only when the first
// engine does not start: a broken installation is reported, not retried.
func (s *Supervisor) Run(ctx context.Context) (err error) {
	defer func() {
		s.runErr = err
		close(s.done)
	}()
	backoff := s.cfg.MinBackoff
	for {
		started := time.Now()
		err := s.runOnce(ctx)
		s.up.Set(0)
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-s.ready:
		default:
			return fmt.Errorf("start the embedded ClickHouse: %w", err)
		}
		if time.Since(started) >= stableAfter {
			backoff = s.cfg.MinBackoff
		}
		s.restarts.Inc()
		s.log.Error("embedded ClickHouse stopped; starting it again", "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}

// runOnce runs one engine process until it exits or ctx ends.
func (s *Supervisor) runOnce(ctx context.Context) error {
	// The child is to die with this process (SIGTERM on the parent's death);
	// the kernel ties that to the thread that started it, so the thread is
	// kept until the child has exited.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	spec, err := json.Marshal(childSpec{Path: s.cfg.Path, Config: s.cfg.Engine, LogLevel: minLevel(s.log)})
	if err != nil {
		return fmt.Errorf("encode the engine's configuration: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("ready pipe: %w", err)
	}
	defer readyR.Close()
	logR, logW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return fmt.Errorf("log pipe: %w", err)
	}
	cmd := exec.Command(s.cfg.Program)
	cmd.Args = []string{s.cfg.Program, "(embedded ClickHouse engine)"} // what ps shows; RunIfChild reads no argument
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	cmd.Stdout, cmd.Stderr = logW, logW
	cmd.ExtraFiles = []*os.File{s.lnFile, s.mlnFile, readyW} // childListenerFD, childMetricsFD, childReadyFD
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	err = cmd.Start()
	readyW.Close()
	logW.Close()
	if err != nil {
		logR.Close()
		return fmt.Errorf("start %s: %w", s.cfg.Program, err)
	}
	s.pid.Store(int64(cmd.Process.Pid))
	defer s.pid.Store(0)
	go func() {
		relayLogs(logR, s.log)
		logR.Close()
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	readyc := make(chan error, 1)
	go func() {
		var r childReady
		err := json.NewDecoder(readyR).Decode(&r)
		if err == nil {
			s.version.Store(r.Version)
		}
		readyc <- err
	}()
	timer := time.NewTimer(s.cfg.ReadyTimeout)
	defer timer.Stop()
	select {
	case err := <-readyc:
		if err != nil {
			// The pipe closed without a report: the child is exiting.
			return fmt.Errorf("%w: %v", errNotReady, exitReason(<-exited))
		}
	case err := <-exited:
		return fmt.Errorf("%w: %v", errNotReady, exitReason(err))
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("the engine was not ready within %v", s.cfg.ReadyTimeout)
	case <-ctx.Done():
		s.stop(cmd, exited)
		return ctx.Err()
	}
	s.up.Set(1)
	s.readyOnce.Do(func() { close(s.ready) })
	s.log.Info("embedded ClickHouse serving", "pid", cmd.Process.Pid, "version", s.Version(), "url", s.URL, "path", s.cfg.Path)
	select {
	case err := <-exited:
		return fmt.Errorf("the engine's process (pid %d) exited: %v", cmd.Process.Pid, exitReason(err))
	case <-ctx.Done():
		s.stop(cmd, exited)
		return ctx.Err()
	}
}

// stop asks the engine to finish its requests and close, and kills it when
// it has not within StopTimeout.
func (s *Supervisor) stop(cmd *exec.Cmd, exited <-chan error) {
	switch err, killed := lifecycle.Terminate(cmd.Process, exited, s.cfg.StopTimeout); {
	case killed:
		s.log.Error("embedded ClickHouse did not stop in time and was killed", "timeout", s.cfg.StopTimeout)
	case err != nil:
		s.log.Warn("embedded ClickHouse stopped with an error", "err", exitReason(err))
	}
}

// exitReason says how a process ended, naming the signal that killed it.
func exitReason(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			if ws.Signal() == syscall.SIGKILL {
				return "killed (SIGKILL: kill -9, or the kernel when memory ran out)"
			}
			return "killed by " + ws.Signal().String()
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Close releases the listening sockets; call it after Run has returned.
func (s *Supervisor) Close() error {
	var errs []error
	if s.ln != nil {
		errs = append(errs, s.ln.Close(), s.lnFile.Close())
	}
	if s.mln != nil {
		errs = append(errs, s.mln.Close(), s.mlnFile.Close())
	}
	return errors.Join(errs...)
}
