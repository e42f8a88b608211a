// Package localcluster runs the distributed topology as processes on one
// machine — what `make run-cluster` starts, so that anyone can watch the
// distributed mode work without Docker: a three-node NATS JetStream cluster
// (nats-server), the embedded ClickHouse endpoint (`serviceping
// warehouse`), the migrations as a step of their own (`serviceping
// migrate`), and two processes each of the gateway, the enricher and the
// loader, sharing the durable consumers, with every stream at three
// replicas. Each process is the real binary with the real variables; their
// command lines and logs are listed when the cluster is up.
//
// Tests use it too, with other layouts (Config.Nodes, Config.Replicas):
// the fault test kills processes with SIGKILL and restarts them (Kill,
// Restart).
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/serviceping/serviceping/pkg/lifecycle"
)

// The default layout: NATSNodes NATS servers and Replicas of each stage.
const (
	NATSNodes = 3
	Replicas  = 2
)

// portsUsed is how many ports a layout takes from Config.Ports: a client,
// a route and a monitoring port per NATS server, the warehouse, one per
// stage replica.
func portsUsed(nodes, replicas int) int { return 3*nodes + 1 + 3*replicas }

// Config of a local cluster.
type Config struct {
	// Bin holds the gateway, enricher, loader and serviceping binaries.
	Bin string
	// NATSServer is the nats-server executable.
	NATSServer string
	// Data holds the NATS stores, the engine's data, the lake and the logs.
	Data string
	// Ports is the first of the consecutive ports the processes listen on
	// (127.0.0.1); 0 takes free ports.
	Ports int
	// StartTimeout bounds each process's start.
	StartTimeout time.Duration
	Logger       *slog.Logger
	// Nodes is the number of NATS servers (0: NATSNodes; 1 runs one
	// server, not a cluster) and the streams' replicas; Replicas the
	// processes of each stage (0: Replicas).
	Nodes, Replicas int
	// Env are variables every stage gets, after the cluster's own.
	Env []string
}

// Process is one running program of the cluster.
type Process struct {
	Name string
	// Listen is what it serves on; Log is its output, after a first line
	// with Command: the variables set for it, the program, its arguments.
	Listen, Log string
	Command     []string
	// health is the URL that answers 200 once it is up.
	health    string
	bin       string
	args, env []string
	cmd       *exec.Cmd
	done      chan struct{}
	err       error
	// stopped is set when the cluster ends the process on purpose (Kill,
	// Close): its exit is then expected.
	stopped atomic.Bool
}

// Cluster is a running local cluster.
type Cluster struct {
	// NATSURL lists the NATS servers; ClickHouseURL is the warehouse;
	// GatewayURLs are the gateways instances post to.
	NATSURL       string
	ClickHouseURL string
	LakeURL       string
	GatewayURLs   []string
	Processes     []*Process

	cfg   Config
	ports []int
	exits chan *Process
}

// Start starts every process in dependency order and returns once each
// answers its health check.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Nodes <= 0 {
		cfg.Nodes = NATSNodes
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = Replicas
	}
	nodes := cfg.Nodes
	for _, bin := range []string{cfg.NATSServer, filepath.Join(cfg.Bin, "serviceping"), filepath.Join(cfg.Bin, "gateway"), filepath.Join(cfg.Bin, "enricher"), filepath.Join(cfg.Bin, "loader")} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("local cluster: %w (make run-cluster builds them)", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(cfg.Data, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", cfg.Data, err)
	}
	c = &Cluster{cfg: cfg, exits: make(chan *Process, 32), LakeURL: filepath.Join(cfg.Data, "lake")}
	if c.ports, err = ports(cfg.Ports, portsUsed(nodes, cfg.Replicas)); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	host := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }

	// NATS: client ports 0..n-1, routes n..2n-1, monitoring 2n..3n-1.
	var clients, routes []string
	for i := range nodes {
		clients = append(clients, "nats://"+host(c.ports[i]))
		routes = append(routes, "nats://"+host(c.ports[nodes+i]))
	}
	c.NATSURL = strings.Join(clients, ",")
	for i := range nodes {
		name := fmt.Sprintf("nats-%d", i+1)
		args := []string{"-n", name, "-a", "127.0.0.1", "-p", strconv.Itoa(c.ports[i]), "-m", strconv.Itoa(c.ports[2*nodes+i]),
			"-js", "-sd", filepath.Join(cfg.Data, name)}
		if nodes > 1 {
			args = append(args, "--cluster_name", "serviceping", "--cluster", routes[i], "--routes", strings.Join(others(routes, i), ","))
		}
		// Healthy means JetStream is current: the meta leader is elected.
		health := "http://" + host(c.ports[2*nodes+i]) + "/healthz"
		if _, err := c.start(name, clients[i], health, cfg.NATSServer, args, nil); err != nil {
			return nil, err
		}
	}
	for _, p := range c.Processes[:nodes] {
		if err := c.waitHTTP(ctx, p); err != nil {
			return nil, err
		}
	}

	// The warehouse, then its schema, once, before the loaders.
	w := c.ports[3*nodes]
	c.ClickHouseURL = "http://" + host(w) + "/serviceping"
	wh, err := c.start("warehouse", "http://"+host(w), "http://"+host(w)+"/ping", filepath.Join(cfg.Bin, "serviceping"),
		[]string{"warehouse", "--listen", host(w), "--path", filepath.Join(cfg.Data, "clickhouse")}, nil)
	if err != nil {
		return nil, err
	}
	if err := c.waitHTTP(ctx, wh); err != nil {
		return nil, err
	}
	if err := c.runOnce(ctx, "migrate", filepath.Join(cfg.Bin, "serviceping"), []string{"migrate", "--clickhouse", c.ClickHouseURL}); err != nil {
		return nil, err
	}

	common := []string{"NATS_URL=" + c.NATSURL, "STREAM_REPLICAS=" + strconv.Itoa(nodes), "LOG_FORMAT=text"}
	next := 3*nodes + 1
	for _, stage := range []string{"loader", "enricher", "gateway"} {
		for r := range cfg.Replicas {
			port := c.ports[next]
			next++
			name := fmt.Sprintf("%s-%d", stage, r+1)
			env := append([]string{}, common...)
			health := "http://" + host(port) + "/healthz"
			switch stage {
			case "gateway":
				env = append(env, "GATEWAY_LISTEN="+host(port))
				health = "http://" + host(port) + "/readyz"
				c.GatewayURLs = append(c.GatewayURLs, "http://"+host(port))
			case "enricher":
				env = append(env, "METRICS_LISTEN="+host(port))
			case "loader":
				env = append(env, "METRICS_LISTEN="+host(port), "CLICKHOUSE_URL="+c.ClickHouseURL, "LAKE_URL="+c.LakeURL, "LOADER_MIGRATE=false")
			}
			p, err := c.start(name, "http://"+host(port), health, filepath.Join(cfg.Bin, stage), nil, append(env, cfg.Env...))
			if err != nil {
				return nil, err
			}
			if err := c.waitHTTP(ctx, p); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// Programs are the programs a cluster runs, for tests to build (make
// run-cluster uses make build and make nats-server): each file name in
// Config.Bin with its package, relative to services/serviceping —
// serviceping itself, the gateway, the enricher and the loader from the
// service modules beside it, nats-server at the version the module
// requires, the one the code embeds.
func Programs() map[string]string {
	return map[string]string{
		"serviceping": ".", "gateway": "../gateway", "enricher": "../enricher", "loader": "../loader",
		"nats-server": "github.com/nats-io/nats-server/v2",
	}
}

// others is routes without the i-th.
func others(routes []string, i int) []string {
	out := append([]string{}, routes[:i]...)
	return append(out, routes[i+1:]...)
}

// ports are n ports: consecutive from base, or free ones.
func ports(base, n int) ([]int, error) {
	out := make([]int, n)
	if base > 0 {
		for i := range out {
			out[i] = base + i
		}
		return out, nil
	}
	addrs, err := lifecycle.FreeLoopbackAddrs(n)
	if err != nil {
		return nil, err
	}
	for i, a := range addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			return nil, err
		}
		out[i] = int(ap.Port())
	}
	return out, nil
}

// start runs bin with args and env (added to this process's environment),
// its output in <data>/logs/<name>.log; health answers 200 once it is up.
func (c *Cluster) start(name, listen, health, bin string, args, env []string) (*Process, error) {
	p, err := c.spawn(&Process{Name: name, Listen: listen, health: health, bin: bin, args: args, env: env})
	if err != nil {
		return nil, err
	}
	c.Processes = append(c.Processes, p)
	return p, nil
}

// spawn starts the program of p, a Process with its name, address, health
// check, program, arguments and variables, and returns it running.
func (c *Cluster) spawn(p *Process) (*Process, error) {
	name, bin, args, env := p.Name, p.bin, p.args, p.env
	logPath := filepath.Join(c.cfg.Data, "logs", name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log of %s: %w", name, err)
	}
	line := append(append(slices.Clip(env), bin), args...)
	if _, err := fmt.Fprintf(f, "# %s\n", strings.Join(line, " ")); err != nil {
		f.Close()
		return nil, fmt.Errorf("log of %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: a Ctrl-C in the terminal reaches the cluster
	// through Close, in order, not all processes at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	f.Close()
	p.Log, p.Command, p.cmd, p.done = logPath, line, cmd, make(chan struct{})
	go func() {
		p.err = cmd.Wait()
		close(p.done)
		if !p.stopped.Load() {
			select {
			case c.exits <- p:
			default: // the first exits are reported; that is enough
			}
		}
	}()
	c.cfg.Logger.Info("started", "process", name, "pid", cmd.Process.Pid, "listen", p.Listen)
	return p, nil
}

// Kill ends p as a crash does, with SIGKILL, and waits until it is gone.
func (c *Cluster) Kill(p *Process) {
	p.stopped.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.done
	c.cfg.Logger.Info("killed", "process", p.Name)
}

// Restart starts p's program again, as it was started (its log goes on
// after a new command line), in p's place in Processes, and waits until it
// answers its health check. p must have been killed.
func (c *Cluster) Restart(ctx context.Context, p *Process) (*Process, error) {
	i := slices.Index(c.Processes, p)
	if i < 0 {
		return nil, fmt.Errorf("restart %s: not a process of the cluster", p.Name)
	}
	select {
	case <-p.done:
	default:
		return nil, fmt.Errorf("restart %s: it is still running", p.Name)
	}
	np, err := c.spawn(&Process{Name: p.Name, Listen: p.Listen, health: p.health, bin: p.bin, args: p.args, env: p.env})
	if err != nil {
		return nil, err
	}
	c.Processes[i] = np
	return np, c.waitHTTP(ctx, np)
}

// PID is the process id of p's program.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Find is the process called name, nil if none.
func (c *Cluster) Find(name string) *Process {
	i := slices.IndexFunc(c.Processes, func(p *Process) bool { return p.Name == name })
	if i < 0 {
		return nil
	}
	return c.Processes[i]
}

// runOnce runs a one-shot step to its end.
func (c *Cluster) runOnce(ctx context.Context, name, bin string, args []string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.StartTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	logPath := filepath.Join(c.cfg.Data, "logs", name+".log")
	if werr := os.WriteFile(logPath, out, 0o644); werr != nil {
		c.cfg.Logger.Warn("cannot keep a step's output", "step", name, "err", werr)
	}
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	c.cfg.Logger.Info("ran", "step", name, "result", lines[len(lines)-1], "log", logPath)
	return nil
}

// waitHTTP polls p's health check until it answers 200, p exits, or the
// start timeout.
func (c *Cluster) waitHTTP(ctx context.Context, p *Process) error {
	url := p.health
	ctx, cancel := context.WithTimeout(ctx, c.cfg.StartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited while starting (%v); see %s", p.Name, p.err, p.Log)
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer %s in time (last: %v); see %s", p.Name, url, err, p.Log)
		case <-time.After(100 * time.Millisecond): // polling interval
		}
	}
}

// Wait returns nil when ctx ends, or an error naming the first process
// that exited on its own.
func (c *Cluster) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case p := <-c.exits:
		return fmt.Errorf("%s exited (%v); see %s", p.Name, p.err, p.Log)
	}
}

// Exited returns an error naming a process that exited on its own (not
// killed nor closed by the cluster), nil while none did.
func (c *Cluster) Exited() error {
	select {
	case p := <-c.exits:
		return fmt.Errorf("%s exited (%v); see %s", p.Name, p.err, p.Log)
	default:
		return nil
	}
}

// Close stops the processes in the reverse of their start — gateways
// first, NATS last — each with SIGTERM, then SIGKILL after 30 s.
func (c *Cluster) Close() error {
	var errs []error
	for i := len(c.Processes) - 1; i >= 0; i-- {
		p := c.Processes[i]
		p.stopped.Store(true)
		if _, killed := lifecycle.Terminate(p.cmd.Process, p.done, 30*time.Second); killed {
			errs = append(errs, fmt.Errorf("%s did not stop within 30s and was killed", p.Name))
		}
	}
	return errors.Join(errs...)
}
