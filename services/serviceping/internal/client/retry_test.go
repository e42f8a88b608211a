package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestSendRetryingLikeAnInstance: a connection dropped, a 503, a 429 and a
// 500 are retried with the same body until the 201; a 400 is final at once;
// a gateway that keeps failing exhausts the attempts.
func TestSendRetryingLikeAnInstance(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	answers := []int{0, http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusCreated}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		status := http.StatusBadRequest
		if r.Header.Get("X-Case") == "ok" && int(n) <= len(answers) {
			status = answers[n-1]
		} else if r.Header.Get("X-Case") == "down" {
			status = http.StatusBadGateway
		}
		switch status {
		case 0: // the connection drops without an answer
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		case http.StatusCreated:
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"conv_index":{"usage_data_id":7}}`))
			return
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "30") // longer than Max: capped
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	r := Retry{Initial: time.Millisecond, Max: 20 * time.Millisecond, Attempts: 6}
	send := func(c string) (Response, int, error) {
		hc := &http.Client{Transport: headerTransport{c}, Timeout: 5 * time.Second}
		return Sender{HTTP: hc, GatewayURL: srv.URL}.SendRetrying(context.Background(), []byte(`{}`), false, r)
	}

	start := time.Now()
	resp, attempts, err := send("ok")
	if err != nil || resp.Status != http.StatusCreated || resp.UsageDataID != 7 || attempts != len(answers) {
		t.Fatalf("got %d (id %d) after %d attempts, %v; want 201 (id 7) after %d", resp.Status, resp.UsageDataID, attempts, err, len(answers))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("retries took %s: Retry-After was not capped at Max", d)
	}

	calls.Store(0)
	resp, attempts, err = send("bad")
	if err != nil || resp.Status != http.StatusBadRequest || attempts != 1 {
		t.Errorf("a 400: %d after %d attempts, %v; want it final at once", resp.Status, attempts, err)
	}

	calls.Store(0)
	resp, attempts, err = send("down")
	if err == nil || resp.Status != http.StatusBadGateway || attempts != r.Attempts || calls.Load() != int64(r.Attempts) {
		t.Errorf("a gateway that keeps failing: %d after %d attempts (%d calls), %v; want an error after %d", resp.Status, attempts, calls.Load(), err, r.Attempts)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := (Sender{GatewayURL: srv.URL}).SendRetrying(ctx, []byte(`{}`), false, Retry{Initial: time.Hour, Max: time.Hour}); err == nil {
		t.Error("a cancelled context did not end the retries")
	}
}

// headerTransport marks every request with the test case.
type headerTransport struct{ c string }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Case", h.c)
	return http.DefaultTransport.RoundTrip(r)
}
