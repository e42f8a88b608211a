package testinfra

import (
	"testing"
	"time"
)

// Polling intervals of Eventually: the first retry comes quickly, later
// ones back off so a long wait does not load the machine it waits on.
const (
	firstPoll = 10 * time.Millisecond
	maxPoll   = 100 * time.Millisecond
)

// Eventually calls cond until it returns nil, first at once, then every
// 10 ms backing off to every 100 ms, and fails tb when timeout has passed
// without that, with what it waited for and cond's last error. The error
// should say what was observed ("2 of 5 pings in the lake").
//
// cond runs on the calling goroutine, so it may call tb.Fatal itself to
// stop at once on a state that can no longer turn good.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() error) {
	tb.Helper()
	eventually(tb, timeout, firstPoll, maxPoll, what, cond)
}

// EventuallyEvery is Eventually polling every interval without backing
// off, for a test that must catch a moment as soon as it comes (a file
// just written, a request in flight) rather than some time after.
func EventuallyEvery(tb testing.TB, timeout, interval time.Duration, what string, cond func() error) {
	tb.Helper()
	eventually(tb, timeout, interval, interval, what, cond)
}

// eventually polls cond first at once, then after first, doubling the
// interval up to most.
func eventually(tb testing.TB, timeout, first, most time.Duration, what string, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	interval := first
	for {
		err := cond()
		if err == nil {
			return
		}
		if !time.Now().Before(deadline) {
			tb.Fatalf("%s: not within %s: %v", what, timeout, err)
			return
		}
		time.Sleep(interval)
		interval = min(2*interval, most)
	}
}
