package lifecycle_test

import (
	"bufio"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/lifecycle"
)

// startShell runs script, which prints a line once it is set up, and
// returns it, once it has, with the channel its exit status arrives on.
func startShell(t *testing.T, script string) (*exec.Cmd, <-chan error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return cmd, exited
}

// signalled is the signal that ended a process, 0 if none did.
func signalled(err error) syscall.Signal {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal()
		}
	}
	return 0
}

// TestTerminate: a process that exits on SIGTERM is not killed; one that
// ignores it is killed once the grace period has passed.
func TestTerminate(t *testing.T) {
	t.Parallel()
	t.Run("exits on SIGTERM", func(t *testing.T) {
		t.Parallel()
		cmd, exited := startShell(t, "echo ready; exec sleep 60")
		err, killed := lifecycle.Terminate(cmd.Process, exited, 30*time.Second)
		if killed || signalled(err) != syscall.SIGTERM {
			t.Errorf("killed %v, exit %v; want ended by SIGTERM", killed, err)
		}
	})
	t.Run("ignores SIGTERM", func(t *testing.T) {
		t.Parallel()
		cmd, exited := startShell(t, `trap "" TERM; echo ready; while :; do sleep 0.1; done`)
		start := time.Now()
		err, killed := lifecycle.Terminate(cmd.Process, exited, 300*time.Millisecond)
		if !killed || signalled(err) != syscall.SIGKILL {
			t.Errorf("killed %v, exit %v; want killed by SIGKILL", killed, err)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("killed after %s, within the grace period", d)
		}
	})
}
