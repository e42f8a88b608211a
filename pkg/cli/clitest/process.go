package clitest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

// Process is a binary running in the background for the length of a test,
// its standard output and error kept together.
type Process struct {
	cmd  *exec.Cmd
	out  testinfra.Buffer
	done chan struct{}
	err  error // Wait's, set before done is closed
}

// Start starts bin with args in a temporary directory, in the test's
// environment plus env ("NAME=value", later entries win), and returns it
// running; it is stopped when the test ends if the test has not.
func Start(tb testing.TB, bin string, env []string, args ...string) *Process {
	tb.Helper()
	p := &Process{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Dir = tb.TempDir()
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() { _, _ = p.Stop(tb) })
	return p
}

// Output is what the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// WaitFor returns once the output holds every marker, or once the process
// has exited (without markers: only then); it fails the test after a
// minute.
func (p *Process) WaitFor(tb testing.TB, markers ...string) {
	tb.Helper()
	testinfra.Eventually(tb, time.Minute, fmt.Sprintf("%s to print %q or exit", filepath.Base(p.cmd.Path), markers), func() error {
		select {
		case <-p.done:
			return nil
		default:
		}
		if len(markers) == 0 {
			return errors.New("still running")
		}
		out := p.Output()
		for _, m := range markers {
			if !strings.Contains(out, m) {
				return fmt.Errorf("no %q yet in:\n%s", m, out)
			}
		}
		return nil
	})
}

// Stop ends the process with SIGTERM, and SIGKILL after 20 s, which fails
// the test; it returns the whole output and how the process ended (Wait's
// error). Once the process has ended it only returns them.
func (p *Process) Stop(tb testing.TB) (string, error) {
	tb.Helper()
	select {
	case <-p.done:
	default:
		if _, killed := lifecycle.Terminate(p.cmd.Process, p.done, 20*time.Second); killed {
			tb.Errorf("%s did not stop within 20s of SIGTERM", filepath.Base(p.cmd.Path))
		}
	}
	return p.Output(), p.err
}
