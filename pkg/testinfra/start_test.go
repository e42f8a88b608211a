package testinfra

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStartStopGivesRunsError(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	errStopped := errors.New("stopped")
	stop := Start(t, 5*time.Second, func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return errStopped
	})
	<-started
	if err := stop(); !errors.Is(err, errStopped) {
		t.Fatalf("stop = %v, want run's error", err)
	}
	if err := stop(); !errors.Is(err, errStopped) {
		t.Fatalf("second stop = %v, want the same error", err)
	}
}

func TestStartFailsWhenRunDoesNotReturn(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	release := make(chan struct{})
	defer close(release)
	stop := Start(r, 100*time.Millisecond, func(context.Context) error {
		<-release // ignores its context
		return nil
	})
	if err := stop(); err != nil {
		t.Fatalf("stop = %v, want nil after the failure", err)
	}
	if !strings.Contains(r.failed, "still running 100ms after its context ended") {
		t.Fatalf("failure %q, want the timeout named", r.failed)
	}
}
