package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/serviceping/serviceping/pkg/lifecycle"
)

// proc is a program the bench started: in a process group of its own, its
// output in a log file, ended with its whole group.
type proc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startProc starts bin with args and, after this process's environment,
// env — what a user running it from the same shell would have — its
// output in dir/<name>.log.
func startProc(dir, name, bin string, args, env []string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("log of %s: %w", name, err)
	}
	defer f.Close()
	fmt.Fprintf(f, "# %s %s %s\n", strings.Join(env, " "), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// A group of its own, so that stop reaches the programs it starts (the
	// all-in-one's engine); the kernel ends it should the bench die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid is the process's id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop ends the process's group with SIGTERM and, past grace, SIGKILL, and
// waits for the process; an error says it had to be killed.
func (p *proc) stop(grace time.Duration) error {
	pgid := p.pid()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		_ = syscall.Kill(-pgid, syscall.SIGKILL) // anything of its group left behind
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not stop within %s of SIGTERM and was killed", p.name, grace)
}

// failed is err with the tail of the process's log, for an error about
// it; err alone when the run was stopped (ctx ended) or it is nil.
func (p *proc) failed(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	b, rerr := os.ReadFile(p.log)
	if rerr != nil {
		return err
	}
	const keep = 2000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return fmt.Errorf("%w\n--- end of %s's output:\n%s", err, p.name, b)
}

// waitHTTP polls url until it answers 200, the process exits, or timeout.
func (p *proc) waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	err := poll(ctx, timeout, p.name+" answering "+url, func(ctx context.Context) error {
		if err := p.exited(); err != nil {
			return stopPolling{err}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return stopPolling{err}
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		discard(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("answered %d", resp.StatusCode)
		}
		return nil
	})
	return p.failed(err)
}

// stopPolling is an error of poll's condition that no retry mends.
type stopPolling struct{ error }

// poll calls cond until it returns nil, an error in stopPolling (which it
// returns), or ctx ends or timeout passes (an error with what it waited
// for and cond's last error), every 100 ms.
func poll(ctx context.Context, timeout time.Duration, what string, cond func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		if s, ok := err.(stopPolling); ok {
			return s.error
		}
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); !errors.Is(cause, context.DeadlineExceeded) {
				return cause
			}
			return fmt.Errorf("%s: not within %s: %w", what, timeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// exited is an error when the process ended on its own.
func (p *proc) exited() error {
	select {
	case <-p.done:
		return p.failed(fmt.Errorf("%s exited: %v", p.name, p.err))
	default:
		return nil
	}
}

// natsServer starts nats-server with JetStream on file storage under dir,
// on free loopback ports, and returns it once its /healthz (JetStream
// included) answers 200, with its client URL.
func natsServer(ctx context.Context, cfg Config, dir, name string) (*proc, string, error) {
	addrs, err := lifecycle.FreeLoopbackAddrs(2)
	if err != nil {
		return nil, "", err
	}
	port := func(a string) string { _, p, _ := net.SplitHostPort(a); return p }
	args := []string{"-n", name, "-a", "127.0.0.1", "-p", port(addrs[0]), "-m", port(addrs[1]), "-js", "-sd", filepath.Join(dir, name)}
	p, err := startProc(dir, name, cfg.NATSServer, args, nil)
	if err != nil {
		return nil, "", err
	}
	if err := p.waitHTTP(ctx, "http://"+addrs[1]+"/healthz", cfg.StartTimeout); err != nil {
		return nil, "", errors.Join(err, p.stop(stopGrace))
	}
	return p, "nats://" + addrs[0], nil
}

// stopGrace is how long a stopped process has to end before it is killed.
const stopGrace = 30 * time.Second
