package lifecycle

import (
	"os"
	"syscall"
	"time"
)

// Terminate stops a child process the way its supervisor should: SIGTERM,
// then SIGKILL when it has not exited within grace. exited is what the
// process's waiter sends or closes once it has exited; Terminate returns
// what it received and whether the process had to be killed.
func Terminate[T any](p *os.Process, exited <-chan T, grace time.Duration) (v T, killed bool) {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case v = <-exited:
		return v, false
	case <-time.After(grace):
		_ = p.Kill()
		return <-exited, true
	}
}
