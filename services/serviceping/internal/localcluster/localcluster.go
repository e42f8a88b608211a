// Package localcluster runs the distributed topology as processes on one
// machine — what `make run-cluster` starts, so that anyone can watch the
// distributed mode work without Docker: a three-node NATS JetStream cluster
// (nats-server), the embedded ClickHouse endpoint (`serviceping
// warehouse`), the migrations as a step of their own (`serviceping
// migrate`), and two processes each of the gateway, the enricher and the
// loader, sharing the durable consumers, with every stream at three
// replicas. Each process is the real binary with the real variables; their
// command lines and logs are listed when the cluster is up.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Layout: NATSNodes NATS servers and Replicas of each stage.
const (
	NATSNodes = 3
	Replicas  = 2
	// portsUsed is how many ports the layout takes from Config.Ports.
	portsUsed = 3*NATSNodes + 1 + 3*Replicas
)

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
}

// Process is one running program of the cluster.
type Process struct {
	Name string
	// Listen is what it serves on; Log is its output, after a first line
	// with Command: the variables set for it, the program, its arguments.
	Listen, Log string
	Command     []string
	cmd         *exec.Cmd
	done        chan struct{}
	err         error
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
	for _, bin := range []string{cfg.NATSServer, filepath.Join(cfg.Bin, "serviceping"), filepath.Join(cfg.Bin, "gateway"), filepath.Join(cfg.Bin, "enricher"), filepath.Join(cfg.Bin, "loader")} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("local cluster: %w (make run-cluster builds them)", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(cfg.Data, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", cfg.Data, err)
	}
	c = &Cluster{cfg: cfg, exits: make(chan *Process, 32), LakeURL: filepath.Join(cfg.Data, "lake")}
	if c.ports, err = ports(cfg.Ports); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	host := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }

	// NATS: client ports 0..2, routes 3..5, monitoring 6..8.
	var clients, routes []string
	for i := range NATSNodes {
		clients = append(clients, "nats://"+host(c.ports[i]))
		routes = append(routes, "nats://"+host(c.ports[NATSNodes+i]))
	}
	c.NATSURL = strings.Join(clients, ",")
	for i := range NATSNodes {
		name := fmt.Sprintf("nats-%d", i+1)
		args := []string{"-n", name, "-a", "127.0.0.1", "-p", strconv.Itoa(c.ports[i]), "-m", strconv.Itoa(c.ports[2*NATSNodes+i]),
			"-js", "-sd", filepath.Join(cfg.Data, name), "--cluster_name", "serviceping",
			"--cluster", routes[i], "--routes", strings.Join(others(routes, i), ",")}
		if _, err := c.start(name, clients[i], cfg.NATSServer, args, nil); err != nil {
			return nil, err
		}
	}
	for i := range NATSNodes {
		// Healthy means JetStream is current: the meta leader is elected.
		if err := c.waitHTTP(ctx, c.Processes[i], "http://"+host(c.ports[2*NATSNodes+i])+"/healthz"); err != nil {
			return nil, err
		}
	}

	// The warehouse, then its schema, once, before the loaders.
	w := c.ports[3*NATSNodes]
	c.ClickHouseURL = "http://" + host(w) + "/serviceping"
	wh, err := c.start("warehouse", "http://"+host(w), filepath.Join(cfg.Bin, "serviceping"),
		[]string{"warehouse", "--listen", host(w), "--path", filepath.Join(cfg.Data, "clickhouse")}, nil)
	if err != nil {
		return nil, err
	}
	if err := c.waitHTTP(ctx, wh, "http://"+host(w)+"/ping"); err != nil {
		return nil, err
	}
	if err := c.runOnce(ctx, "migrate", filepath.Join(cfg.Bin, "serviceping"), []string{"migrate", "--clickhouse", c.ClickHouseURL}); err != nil {
		return nil, err
	}

	common := []string{"NATS_URL=" + c.NATSURL, "STREAM_REPLICAS=" + strconv.Itoa(NATSNodes), "LOG_FORMAT=text"}
	next := 3*NATSNodes + 1
	for _, stage := range []string{"loader", "enricher", "gateway"} {
		for r := range Replicas {
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
			p, err := c.start(name, "http://"+host(port), filepath.Join(cfg.Bin, stage), nil, env)
			if err != nil {
				return nil, err
			}
			if err := c.waitHTTP(ctx, p, health); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// others is routes without the i-th.
func others(routes []string, i int) []string {
	out := append([]string{}, routes[:i]...)
	return append(out, routes[i+1:]...)
}

// ports are the layout's ports: consecutive from base, or free ones.
func ports(base int) ([]int, error) {
	out := make([]int, portsUsed)
	if base > 0 {
		for i := range out {
			out[i] = base + i
		}
		return out, nil
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, ln)
		out[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return out, nil
}

// start runs bin with args and env (added to this process's environment),
// its output in <data>/logs/<name>.log.
func (c *Cluster) start(name, listen, bin string, args, env []string) (*Process, error) {
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
	p := &Process{Name: name, Listen: listen, Log: logPath, Command: line, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
		c.exits <- p
	}()
	c.Processes = append(c.Processes, p)
	c.cfg.Logger.Info("started", "process", name, "pid", cmd.Process.Pid, "listen", listen)
	return p, nil
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

// waitHTTP polls url until it answers 200, p exits, or the start timeout.
func (c *Cluster) waitHTTP(ctx context.Context, p *Process, url string) error {
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

// Close stops the processes in the reverse of their start — gateways
// first, NATS last — each with SIGTERM, then SIGKILL after 30 s.
func (c *Cluster) Close() error {
	var errs []error
	for i := len(c.Processes) - 1; i >= 0; i-- {
		p := c.Processes[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			errs = append(errs, fmt.Errorf("%s did not stop within 30s and was killed", p.Name))
		}
	}
	return errors.Join(errs...)
}
