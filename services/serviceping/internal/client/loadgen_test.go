package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadPaced: a paced run sends every ping, each a distinct generated
// payload, no faster than the rate (the limiter's burst is one).
func TestLoadPaced(t *testing.T) {
	t.Parallel()
	var got atomic.Int64
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[string(b)] = true
		mu.Unlock()
		got.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	s := Sender{HTTP: srv.Client(), GatewayURL: srv.URL}
	const pings, perSecond = 12, 40.0
	res, err := s.Load(context.Background(), LoadOptions{Pings: pings, Instances: 5, Concurrency: 4, Duration: time.Minute, Rate: perSecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != pings || got.Load() != pings || len(seen) != pings {
		t.Fatalf("accepted %d, server saw %d requests with %d distinct payloads; want %d", res.Accepted, got.Load(), len(seen), pings)
	}
	if least := time.Duration(float64(pings-1) / perSecond * float64(time.Second)); res.Elapsed < least {
		t.Errorf("%d pings at %.0f/s took %s, less than %s", pings, perSecond, res.Elapsed, least)
	}
}
