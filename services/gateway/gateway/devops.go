package gateway

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/devopsscore"
)

// Outcomes of scoring a ping (the devops_scores_total metric's label).
const (
	scoreAnswered    = "scored"
	scoreFirstPing   = "first_ping"
	scoreResubmitted = "resubmitted"
	scoreUnavailable = "unavailable"
)

// scorer answers the DevOps Score from the key-value bucket the enricher
// keeps (docs/devops-score.md). The common case — a new ping of an
// instance whose newest remembered ping is older — is answered from a
// replica of each instance's newest ping, kept in memory by watching the
// bucket, so it costs no request. Everything else (a first ping, a
// resubmission, an out-of-order ping, a replica not yet in sync) reads the
// instance's whole state from the bucket. The leaders are cached for
// cfg.DevOpsLeadersTTL. Nothing here may fail a ping: an unreadable bucket
// means an answer without a score.
type scorer struct {
	bucket  devopsscore.Opener
	timeout time.Duration
	ttl     time.Duration
	now     func() time.Time
	log     func(msg string, args ...any)
	reads   *prometheus.CounterVec // source: replica|bucket

	mu      sync.Mutex
	leaders devopsscore.Leaders
	fetched time.Time // when leaders were read; zero: never

	replica replica
	watch   sync.Once
	life    context.Context // ends with Close: stops the watcher
	stop    context.CancelFunc
	done    chan struct{} // closed when the watcher returned
}

func newScorer(deps Deps, cfg Config, now func() time.Time, log func(string, ...any), reads *prometheus.CounterVec) *scorer {
	js := deps.ScoreJS
	if js == nil {
		js = deps.JS
	}
	life, stop := context.WithCancel(context.Background())
	return &scorer{
		bucket: devopsscore.Opener{JS: js, Replicas: cfg.Streams.Replicas}, timeout: cfg.DevOpsTimeout, ttl: cfg.DevOpsLeadersTTL, now: now, log: log, reads: reads,
		replica: replica{newest: map[string]devopsscore.Snapshot{}}, life: life, stop: stop, done: make(chan struct{}),
	}
}

// close stops the watcher and waits for it.
func (s *scorer) close() {
	s.stop()
	started := true
	s.watch.Do(func() { started = false })
	if started {
		<-s.done
	}
}

// replica is each instance's newest remembered ping, as the watcher saw it.
type replica struct {
	mu     sync.RWMutex
	newest map[string]devopsscore.Snapshot // uuid → newest remembered ping
	synced atomic.Bool                     // the initial values were all read
}

func (r *replica) get(uuid string) (devopsscore.Snapshot, bool) {
	if !r.synced.Load() {
		return devopsscore.Snapshot{}, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.newest[uuid]
	return s, ok
}

func (r *replica) put(uuid string, st devopsscore.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(st.Pings) == 0 {
		delete(r.newest, uuid)
		return
	}
	r.newest[uuid] = st.Pings[len(st.Pings)-1].Snapshot
}

// startWatch runs the watcher once, in the background, until close.
func (s *scorer) startWatch() {
	s.watch.Do(func() {
		go func() {
			defer close(s.done)
			s.runWatch()
		}()
	})
}

// runWatch keeps the replica in step with the bucket, starting over after
// a failure (the replica is marked out of sync meanwhile).
func (s *scorer) runWatch() {
	for attempt := 0; s.life.Err() == nil; attempt++ {
		if err := s.watchOnce(); err != nil && s.life.Err() == nil {
			s.log("devops score replica out of sync; reading the bucket per ping until it is back", "err", err)
		}
		s.replica.synced.Store(false)
		select {
		case <-s.life.Done():
		case <-time.After(min(time.Duration(attempt+1)*time.Second, 30*time.Second)):
		}
	}
}

var errWatchEnded = errors.New("watch ended")

func (s *scorer) watchOnce() error {
	store, err := s.bucket.Store(s.life)
	if err != nil {
		return err
	}
	w, err := store.Watch(s.life)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-s.life.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errWatchEnded
			}
			if e == nil { // every initial value has been delivered
				s.replica.synced.Store(true)
				continue
			}
			if e.Key() == devopsscore.LeadersKey {
				if l, err := devopsscore.DecodeLeaders(e.Value()); err == nil {
					s.setLeaders(l)
				}
				continue
			}
			uuid, st, err := devopsscore.DecodeEntry(e)
			if err != nil {
				continue // not an instance's state, or corrupt: the bucket read path handles it
			}
			s.replica.put(uuid, st)
		}
	}
}

// setLeaders caches l as read now, unless newer leaders are cached (the
// watcher calls it on every change, so new leaders apply at once; the TTL
// re-read covers a watcher that is down).
func (s *scorer) setLeaders(l devopsscore.Leaders) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.ComputedAt.Before(s.leaders.ComputedAt) {
		return
	}
	s.leaders, s.fetched = l, s.now()
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
	s.setLeaders(fresh)
	return fresh, nil
}

// decide answers snap, a ping of uuid; ok is false when the bucket could
// not be read.
func (s *scorer) decide(ctx context.Context, uuid string, snap devopsscore.Snapshot) (devopsscore.Decision, bool) {
	s.startWatch()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	st, err := s.bucket.Store(ctx)
	if err != nil {
		return devopsscore.Decision{}, false
	}
	leaders, err := s.currentLeaders(ctx, st)
	if err != nil {
		return devopsscore.Decision{}, false
	}
	if prev, ok := s.replica.get(uuid); ok && prev.PingID != snap.PingID && prev.RecordedAt.Before(snap.RecordedAt) {
		s.reads.WithLabelValues("replica").Inc()
		score := devopsscore.Compute(prev, snap, leaders)
		return devopsscore.Decision{Score: &score}, true
	}
	s.reads.WithLabelValues("bucket").Inc()
	state, err := st.Peek(ctx, uuid)
	if err != nil && !errors.Is(err, devopsscore.ErrCorrupt) {
		return devopsscore.Decision{}, false // a corrupt state is scored as unknown and overwritten
	}
	return state.Decide(snap, leaders), true
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
