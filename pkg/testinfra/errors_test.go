package testinfra

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// errorRecorder is a testing.TB that records what Errorf reports.
type errorRecorder struct {
	testing.TB
	errs []string
}

func (r *errorRecorder) Helper() {}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestErrorSays: an error that says everything passes; one that misses a
// word fails once per missing word; no error at all fails once.
func TestErrorSays(t *testing.T) {
	t.Parallel()
	err := errors.New("GATEWAY_LISTEN is bad; GATEWAY_RETRY_AFTER is short")
	for _, c := range []struct {
		name string
		err  error
		want []string
		errs []string
	}{
		{"says all", err, []string{"GATEWAY_LISTEN", "GATEWAY_RETRY_AFTER"}, nil},
		{"misses one", err, []string{"GATEWAY_LISTEN", "GATEWAY_MAX_DEPTH"},
			[]string{`Validate = GATEWAY_LISTEN is bad; GATEWAY_RETRY_AFTER is short, want it to say "GATEWAY_MAX_DEPTH"`}},
		{"no error", nil, []string{"GATEWAY_LISTEN"}, []string{`Validate = nil, want an error saying ["GATEWAY_LISTEN"]`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := &errorRecorder{TB: t}
			ErrorSays(r, "Validate", c.err, c.want...)
			if !slices.Equal(r.errs, c.errs) {
				t.Errorf("reported %q, want %q", r.errs, c.errs)
			}
		})
	}
}
