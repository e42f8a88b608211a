package testinfra

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf records the message and returns
// (the real one would end the goroutine).
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

// poll runs Eventually with a cond that fails until call okAt (never when
// okAt is 0) and returns the failure, the calls made and the time taken.
func poll(t *testing.T, timeout time.Duration, okAt int) (failed string, calls int, took time.Duration) {
	r := &recorder{TB: t}
	start := time.Now()
	Eventually(r, timeout, "the pings", func() error {
		calls++
		if calls == okAt {
			return nil
		}
		return fmt.Errorf("%d pings in the lake", calls)
	})
	return r.failed, calls, time.Since(start)
}

func TestEventuallyReturnsOnceCondHolds(t *testing.T) {
	t.Parallel()
	failed, calls, took := poll(t, 10*time.Second, 4)
	if failed != "" {
		t.Fatalf("failed although cond held: %s", failed)
	}
	if calls != 4 {
		t.Errorf("cond called %d times, want 4 (no call after it held)", calls)
	}
	if took > 2*time.Second {
		t.Errorf("three retries took %s: the first intervals are not short", took)
	}
}

func TestEventuallyFailsWithLastError(t *testing.T) {
	t.Parallel()
	failed, calls, took := poll(t, 300*time.Millisecond, 0)
	if took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("gave up after %s, want just after 300ms", took)
	}
	if want := fmt.Sprintf("the pings: not within 300ms: %d pings in the lake", calls); failed != want {
		t.Errorf("failure %q, want %q (what and the last error)", failed, want)
	}
	if calls < 3 {
		t.Errorf("cond called %d times in 300ms", calls)
	}
}

func TestEventuallyCallsCondAtOnce(t *testing.T) {
	t.Parallel()
	failed, calls, _ := poll(t, 0, 0)
	if calls != 1 || !strings.Contains(failed, "1 pings in the lake") {
		t.Errorf("with no time left: %d calls, failure %q; want one call and its error", calls, failed)
	}
}

// TestEventuallyEveryKeepsItsInterval: polling every millisecond for
// 200ms calls cond far more often than Eventually's backing off would
// (five times), and fails with what and the last error.
func TestEventuallyEveryKeepsItsInterval(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	calls := 0
	EventuallyEvery(r, 200*time.Millisecond, time.Millisecond, "a new file", func() error {
		calls++
		return fmt.Errorf("%d files", calls)
	})
	if calls < 20 {
		t.Errorf("cond called %d times in 200ms at a 1ms interval: the interval backed off", calls)
	}
	if want := fmt.Sprintf("a new file: not within 200ms: %d files", calls); r.failed != want {
		t.Errorf("failure %q, want %q (what and the last error)", r.failed, want)
	}
}
