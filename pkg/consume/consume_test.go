package consume

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestPermanent(t *testing.T) {
	t.Parallel()
	base := errors.New("bad envelope")
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) is not nil")
	}
	p := Permanent(base)
	if !IsPermanent(p) || !IsPermanent(fmt.Errorf("decode: %w", p)) {
		t.Fatal("a permanent error, wrapped or not, is not recognised")
	}
	if !errors.Is(p, base) {
		t.Fatal("Permanent hides the error it marks")
	}
	if IsPermanent(base) || IsPermanent(nil) {
		t.Fatal("an unmarked error is reported permanent")
	}
}

func TestNakDelay(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		deliveries uint64
		want       time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {10, 30 * time.Second}, {1000, 30 * time.Second}} {
		if got := NakDelay(tt.deliveries, 30*time.Second); got != tt.want {
			t.Errorf("NakDelay(%d) = %s, want %s", tt.deliveries, got, tt.want)
		}
	}
}
