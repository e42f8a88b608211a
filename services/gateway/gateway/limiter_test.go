package gateway

import (
	"fmt"
	"testing"
	"time"
)

func TestKeyedLimiterIsBounded(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	l := newKeyedLimiter(1, 1, 100)
	for i := range 10_000 {
		l.allow(fmt.Sprintf("k%d", i), now)
	}
	if n := l.len(); n != 100 {
		t.Fatalf("limiter holds %d keys, want 100", n)
	}
	// The most recent key is still limited; the oldest was forgotten.
	if ok, wait := l.allow("k9999", now); ok || wait != time.Second {
		t.Fatalf("recent key: ok=%v wait=%s", ok, wait)
	}
	if ok, _ := l.allow("k0", now); !ok {
		t.Fatal("evicted key should start with a full bucket")
	}
	if ok, _ := l.allow("k9999", now.Add(time.Second)); !ok {
		t.Fatal("bucket did not refill")
	}
	var off *keyedLimiter = newKeyedLimiter(0, 1, 1)
	if ok, _ := off.allow("x", now); !ok || off != nil {
		t.Fatal("a zero rate must disable the limiter")
	}
}
