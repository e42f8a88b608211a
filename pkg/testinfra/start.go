package testinfra

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Start calls run on its own goroutine with a context that stop cancels.
// stop then waits for run to return and gives its error, failing tb when
// run has not returned within timeout; later calls give the same error.
// The test's cleanup stops run too if the test has not.
func Start(tb testing.TB, timeout time.Duration, run func(context.Context) error) (stop func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var (
		once sync.Once
		err  error
	)
	stop = func() error {
		tb.Helper()
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(timeout):
				tb.Fatalf("still running %s after its context ended", timeout)
			}
		})
		return err
	}
	tb.Cleanup(func() { _ = stop() })
	return stop
}

// Background runs run with Start for the rest of the test: when the test
// ends run is stopped, and an error it returned fails tb, reported as
// what ("enricher Run: …"). Cleanups registered before Background run
// after run has stopped.
func Background(tb testing.TB, timeout time.Duration, what string, run func(context.Context) error) {
	tb.Helper()
	stop := Start(tb, timeout, run)
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("%s: %v", what, err)
		}
	})
}
