package loader

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/devopsscore"
)

// PopulationReader reads the DevOps Score leaders' population from the
// warehouse (*warehouse.Sink).
type PopulationReader interface {
	DevOpsPopulation(ctx context.Context, now time.Time) ([]devopsscore.Values, error)
}

// leaders recomputes the DevOps Score leaders from the warehouse and
// stores them in the key-value bucket the gateways read
// (docs/devops-score.md). Every loader does it; the result is the same.
type leaders struct {
	pop      PopulationReader
	bucket   devopsscore.Opener
	interval time.Duration
	now      func() time.Time
	refresh  *prometheus.CounterVec // result: ok|failed
	log      *slog.Logger
}

// run refreshes at start and then every interval until ctx ends.
func (r *leaders) run(ctx context.Context) { every(ctx, r.interval, r.once) }

// every calls fn at once and then every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *leaders) once(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, min(r.interval, 5*time.Minute))
	defer cancel()
	l, err := r.compute(ctx)
	if err != nil {
		if parent.Err() == nil { // not shutting down
			r.log.Warn("devops score leaders not refreshed; the gateways keep the last ones", "err", err)
		}
		r.refresh.WithLabelValues("failed").Inc()
		return
	}
	r.refresh.WithLabelValues("ok").Inc()
	r.log.Debug("devops score leaders refreshed", "instances", l.Instances)
}

func (r *leaders) compute(ctx context.Context) (devopsscore.Leaders, error) {
	now := r.now()
	pop, err := r.pop.DevOpsPopulation(ctx, now)
	if err != nil {
		return devopsscore.Leaders{}, err
	}
	store, err := r.bucket.Store(ctx)
	if err != nil {
		return devopsscore.Leaders{}, err
	}
	l := devopsscore.ComputeLeaders(pop, now)
	return l, store.SetLeaders(ctx, l)
}

// RefreshLeaders recomputes the DevOps Score leaders now (what Run does
// every Config.DevOpsLeadersInterval); an error without a warehouse.
func (l *Loader) RefreshLeaders(ctx context.Context) (devopsscore.Leaders, error) {
	if l.leaders == nil {
		return devopsscore.Leaders{}, errors.New("no warehouse to compute the devops score leaders from")
	}
	return l.leaders.compute(ctx)
}
