package testinfra

import (
	"context"
	"errors"
	"slices"
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

// cleanupRecorder is an errorRecorder that keeps the cleanups registered
// for the test to run.
type cleanupRecorder struct {
	errorRecorder
	cleanups []func()
}

func (r *cleanupRecorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *cleanupRecorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// TestBackground: run runs until the test ends; then it is stopped, and
// the error it returned fails the test, named.
func TestBackground(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		err  error
		want []string
	}{
		{"nil", nil, nil},
		{"error", errors.New("boom"), []string{"dashboard run: boom"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := &cleanupRecorder{errorRecorder: errorRecorder{TB: t}}
			started, stopped := make(chan struct{}), make(chan struct{})
			Background(r, 5*time.Second, "dashboard run", func(ctx context.Context) error {
				close(started)
				<-ctx.Done()
				close(stopped)
				return c.err
			})
			<-started
			select {
			case <-stopped:
				t.Fatal("run stopped before the test ended")
			default:
			}
			r.end()
			select {
			case <-stopped:
			default:
				t.Fatal("run still running after the test ended")
			}
			if !slices.Equal(r.errs, c.want) {
				t.Errorf("reported %q, want %q", r.errs, c.want)
			}
		})
	}
}
