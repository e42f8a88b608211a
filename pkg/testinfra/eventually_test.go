package testinfra

import (
	"errors"
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

func TestEventuallyReturnsOnceCondHolds(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	calls := 0
	start := time.Now()
	Eventually(r, 10*time.Second, func() error {
		calls++
		if calls < 4 {
			return fmt.Errorf("%d calls", calls)
		}
		return nil
	})
	if r.failed != "" {
		t.Fatalf("failed although cond held: %s", r.failed)
	}
	if calls != 4 {
		t.Errorf("cond called %d times, want 4 (no call after it held)", calls)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("three retries took %s: the first intervals are not short", took)
	}
}

func TestEventuallyFailsWithLastError(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	calls := 0
	start := time.Now()
	Eventually(r, 300*time.Millisecond, func() error {
		calls++
		return fmt.Errorf("%d pings in the lake", calls)
	})
	took := time.Since(start)
	if took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("gave up after %s, want just after 300ms", took)
	}
	want := fmt.Sprintf("not within 300ms: %d pings in the lake", calls)
	if r.failed != want {
		t.Errorf("failure %q, want %q (the last error)", r.failed, want)
	}
	if calls < 3 {
		t.Errorf("cond called %d times in 300ms", calls)
	}
}

func TestEventuallyCallsCondAtOnce(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	calls := 0
	Eventually(r, 0, func() error {
		calls++
		return errors.New("never")
	})
	if calls != 1 || !strings.Contains(r.failed, "never") {
		t.Errorf("with no time left: %d calls, failure %q; want one call and its error", calls, r.failed)
	}
}
