package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Readiness is what a service's /readyz answers: ready while every check —
// one per dependency (NATS, ClickHouse, the lake, the directory, …) —
// passes. Checks are added as the service opens its dependencies; a check
// added again replaces the earlier one, so a dependency that is still
// being opened is registered with Starting and replaced when it is up.
// Safe for concurrent use.
type Readiness struct {
	mu     sync.Mutex
	checks map[string]func(context.Context) error
}

// NewReadiness returns a Readiness without checks (ready).
func NewReadiness() *Readiness {
	return &Readiness{checks: map[string]func(context.Context) error{}}
}

// Add sets the check of dependency name.
func (r *Readiness) Add(name string, check func(context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[name] = check
}

// errStarting is the answer of a dependency still being opened.
var errStarting = errors.New("starting")

// Starting marks dependency name as being opened: not ready until Add
// replaces it.
func (r *Readiness) Starting(name string) {
	r.Add(name, func(context.Context) error { return errStarting })
}

// checkTimeout bounds each check of one /readyz request.
const checkTimeout = 2 * time.Second

// Check runs every check at once, each within checkTimeout, and returns
// the failures by dependency (empty: ready).
func (r *Readiness) Check(ctx context.Context) map[string]error {
	r.mu.Lock()
	checks := maps.Clone(r.checks)
	r.mu.Unlock()
	var mu sync.Mutex
	failed := map[string]error{}
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			if err := check(cctx); err != nil {
				mu.Lock()
				failed[name] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// ServeHTTP answers 200 {"status":"ready","checks":{"nats":"ok",…}}, or
// 503 with "not_ready" and each failing dependency's error.
func (r *Readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	failed := r.Check(req.Context())
	r.mu.Lock()
	names := slices.Sorted(maps.Keys(r.checks))
	r.mu.Unlock()
	out := struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}{Status: "ready", Checks: map[string]string{}}
	for _, n := range names {
		out.Checks[n] = "ok"
		if err, ok := failed[n]; ok {
			out.Checks[n] = err.Error()
		}
	}
	code := http.StatusOK
	if len(failed) > 0 {
		out.Status, code = "not_ready", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(out)
}
