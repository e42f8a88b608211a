// Package guard keeps a slow or dead dependency cheap: every call gets a
// deadline, a circuit breaker stops calling a dependency that keeps failing
// (and probes it again later), and Retry repeats transient failures with
// jittered exponential backoff within a time budget.
package guard

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sony/gobreaker/v2"
)

// ErrOpen is returned without calling the dependency while its breaker is
// open (or half-open and already probing).
var ErrOpen = errors.New("circuit breaker open")

// Settings of a Guard.
type Settings struct {
	// Name of the dependency, for errors and metrics.
	Name string
	// Timeout bounds one call.
	Timeout time.Duration
	// Failures is how many consecutive transient failures open the breaker.
	Failures uint32
	// OpenFor is how long the breaker stays open before one probe call.
	OpenFor time.Duration
	// Transient tells failures (which count against the dependency) from
	// answers such as "not found" or a rejected request (which do not).
	Transient func(error) bool
	// OnStateChange is told "closed", "half-open" or "open".
	OnStateChange func(name, state string)
}

// Guard protects calls to one dependency. Safe for concurrent use.
type Guard struct {
	name    string
	timeout time.Duration
	cb      *gobreaker.CircuitBreaker[struct{}]
}

// New returns a Guard with a closed breaker.
func New(s Settings) *Guard {
	transient := s.Transient
	if transient == nil {
		transient = func(err error) bool { return err != nil }
	}
	st := gobreaker.Settings{
		Name:        s.Name,
		MaxRequests: 1,
		Timeout:     s.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= max(1, s.Failures) },
		IsSuccessful: func(err error) bool {
			return err == nil || !transient(err)
		},
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
	}
	if s.OnStateChange != nil {
		st.OnStateChange = func(name string, _, to gobreaker.State) { s.OnStateChange(name, to.String()) }
	}
	return &Guard{name: s.Name, timeout: s.Timeout, cb: gobreaker.NewCircuitBreaker[struct{}](st)}
}

// Name of the guarded dependency.
func (g *Guard) Name() string { return g.name }

// State is "closed", "half-open" or "open".
func (g *Guard) State() string { return g.cb.State().String() }

// Do calls op once with a deadline of Timeout, unless the breaker is open.
func (g *Guard) Do(ctx context.Context, op func(ctx context.Context) error) error {
	_, err := g.cb.Execute(func() (struct{}, error) {
		cctx, cancel := context.WithTimeout(ctx, g.timeout)
		defer cancel()
		return struct{}{}, op(cctx)
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return fmt.Errorf("%s: %w", g.name, ErrOpen)
	}
	return err
}

// Backoff is the retry schedule: the n-th wait is drawn uniformly from
// [d/2, d] with d = Initial·2ⁿ capped at Max ("equal jitter"), so callers
// that failed together do not retry together.
type Backoff struct {
	Initial, Max time.Duration
}

func (b Backoff) wait(attempt int) time.Duration {
	d := b.Initial
	for range attempt {
		if d >= b.Max {
			break
		}
		d *= 2
	}
	d = min(d, b.Max)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Retry calls op until it succeeds, fails with an error transient rejects,
// the breaker is open, ctx ends, or the next wait would pass deadline; it
// returns op's last error. A dead dependency therefore costs at most the
// budget once, and nothing while its breaker is open.
func Retry(ctx context.Context, deadline time.Time, b Backoff, transient func(error) bool, op func() error) error {
	for attempt := 0; ; attempt++ {
		err := op()
		if err == nil || !transient(err) || errors.Is(err, ErrOpen) {
			return err
		}
		wait := b.wait(attempt)
		if time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}
