package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Retry is how an instance retries a submission that did not get through.
// GitLab's client (its weekly service ping job) submits the same payload
// again after a connection error or an error answer, with a growing delay;
// Retry does the same on a compressed time scale: the delay starts at
// Initial and doubles up to Max, with up to half of it added at random so
// that instances refused together do not come back together. A Retry-After
// of a 429 or 503 longer than the delay is honoured, up to Max.
type Retry struct {
	Initial, Max time.Duration
	// Attempts bounds the attempts; 0: until ctx ends.
	Attempts int
}

// retryable reports whether an answer calls for another attempt: a
// transport error (status 0), a 429 or a 5xx. Any other answer is final —
// a 2xx accepted, a 4xx refused for good.
func retryable(status int) bool {
	return status == 0 || status == http.StatusTooManyRequests || status/100 == 5
}

// SendRetrying posts body like Send, again and again with the same body
// (the ping keeps its identity, so however often it is sent it is one
// ping), until an answer is final. It returns that answer and the attempts
// made; an error when ctx ended or the attempts ran out first, or the
// final answer came with an error from Send.
func (s Sender) SendRetrying(ctx context.Context, body []byte, gzipped bool, r Retry) (Response, int, error) {
	delay := r.Initial
	for attempt := 1; ; attempt++ {
		resp, err := s.Send(ctx, body, gzipped)
		if err != nil && resp.Status != 0 && !retryable(resp.Status) {
			return resp, attempt, err
		}
		if err == nil && !retryable(resp.Status) {
			return resp, attempt, nil
		}
		if r.Attempts > 0 && attempt >= r.Attempts {
			return resp, attempt, fmt.Errorf("not accepted after %d attempts: status %d, %v", attempt, resp.Status, err)
		}
		wait := delay + rand.N(delay/2+1)
		if secs, perr := strconv.Atoi(resp.RetryAfter); perr == nil && time.Duration(secs)*time.Second > wait {
			wait = min(time.Duration(secs)*time.Second, r.Max)
		}
		select {
		case <-ctx.Done():
			return resp, attempt, fmt.Errorf("not accepted after %d attempts (last: status %d, %v): %w", attempt, resp.Status, err, ctx.Err())
		case <-time.After(wait):
		}
		delay = min(2*delay, r.Max)
	}
}
