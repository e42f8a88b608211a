package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/serviceping/serviceping/pkg/devopsscore"
)

// Outcomes of scoring a ping (the devops_scores_total metric's label).
const (
	scoreAnswered    = "scored"
	scoreFirstPing   = "first_ping"
	scoreResubmitted = "resubmitted"
	scoreUnavailable = "unavailable"
)

// scorer answers the DevOps Score from the key-value bucket: the
// instance's recent pings are read before the ping is published; the
// enricher remembers the ping afterwards (from the envelope). The leaders
// are cached for cfg.DevOpsLeadersTTL. Nothing here may fail a ping: an
// unreadable bucket means an answer without a score.
type scorer struct {
	bucket  devopsscore.Opener
	timeout time.Duration
	ttl     time.Duration
	now     func() time.Time

	mu      sync.Mutex
	leaders devopsscore.Leaders
	fetched time.Time // when leaders were read; zero: never
}

// currentLeaders returns the cached leaders, re-reading them when older
// than the TTL; a failed read keeps the last known ones.
func (s *scorer) currentLeaders(ctx context.Context, st *devopsscore.Store) (devopsscore.Leaders, error) {
	s.mu.Lock()
	l, fetched := s.leaders, s.fetched
	s.mu.Unlock()
	now := s.now()
	if !fetched.IsZero() && now.Sub(fetched) < s.ttl {
		return l, nil
	}
	fresh, err := st.Leaders(ctx)
	if err != nil {
		if !fetched.IsZero() {
			return l, nil
		}
		return devopsscore.Leaders{}, err
	}
	s.mu.Lock()
	s.leaders, s.fetched = fresh, now
	s.mu.Unlock()
	return fresh, nil
}

// known is what the bucket says about an instance.
type known struct {
	state   devopsscore.State
	leaders devopsscore.Leaders
	ok      bool // false when the bucket could not be read
}

// load reads the instance's state and the leaders.
func (s *scorer) load(ctx context.Context, uuid string) known {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	st, err := s.bucket.Store(ctx)
	if err != nil {
		return known{}
	}
	state, err := st.Peek(ctx, uuid)
	if err != nil && !errors.Is(err, devopsscore.ErrCorrupt) {
		return known{} // a corrupt state is scored as unknown and overwritten
	}
	leaders, err := s.currentLeaders(ctx, st)
	if err != nil {
		return known{}
	}
	return known{state: state, leaders: leaders, ok: true}
}

// prefetch starts load in the background; the result arrives on the
// channel (buffered: nobody has to wait for it).
func (s *scorer) prefetch(ctx context.Context, uuid string) <-chan known {
	c := make(chan known, 1)
	go func() { c <- s.load(ctx, uuid) }()
	return c
}

// outcome names a decision for the metric.
func outcome(dec devopsscore.Decision, ok bool) string {
	switch {
	case !ok:
		return scoreUnavailable
	case dec.Seen:
		return scoreResubmitted
	case dec.Score == nil:
		return scoreFirstPing
	}
	return scoreAnswered
}
