package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/services/gateway/gateway"
	"github.com/serviceping/serviceping/services/gateway/internal/validate"
)

// BenchmarkShareOfJetStream measures the gateway as the performance goal
// states it: full-size pings posted over loopback HTTP by 8 concurrent
// clients (4 per core on the project's 2-core machine kind), against the
// same bodies published straight to the same JetStream stream by 8
// concurrent synchronous publishers on the same connection, with
// Nats-Msg-Id, waiting for each PubAck. Both run against one embedded,
// file-backed server in alternating rounds (one op is a round of each), so
// load from outside the benchmark weighs on both alike; share is HTTP
// pings/s over raw JetStream pings/s, p99 the accept latency (request
// sent → 201 read), cpu the whole process's CPU time per ping.
//
// The gateway runs with the DevOps Score on (the default) and off; on, a
// ping of an instance the gateway's replica does not know reads the
// instance's state from the bucket, as every ping here does (no enricher
// remembers them). relay is the ceiling of any HTTP front: a handler that
// only reads the body and publishes it as it is; relay+validate also
// validates it as the gateway does.
func BenchmarkShareOfJetStream(b *testing.B) {
	for _, score := range []bool{true, false} {
		b.Run(fmt.Sprintf("gateway/score=%s", map[bool]string{false: "off", true: "on"}[score]), func(b *testing.B) {
			h := newHarness(b, func(c *gateway.Config, _ *gateway.Deps) { c.DevOpsScore = score })
			shareOfJetStream(b, h, h.h)
		})
	}
	b.Run("relay", func(b *testing.B) {
		h := newHarness(b, nil)
		shareOfJetStream(b, h, relay(h.js, nil))
	})
	b.Run("relay+validate", func(b *testing.B) {
		h := newHarness(b, nil)
		shareOfJetStream(b, h, relay(h.js, func(body []byte) error {
			_, err := validate.DecodePing(body, validate.DefaultLimits())
			return err
		}))
	})
}

// relay answers 201 once the body, read into a pooled buffer and checked
// when check is not nil, is published as it is and acknowledged.
func relay(js jetstream.JetStream, check func([]byte) error) http.Handler {
	var n atomic.Int64
	buffers := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := buffers.Get().(*bytes.Buffer)
		defer buffers.Put(buf)
		buf.Reset()
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
		if _, err := buf.ReadFrom(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if check != nil {
			if err := check(buf.Bytes()); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		msg := &nats.Msg{Subject: streams.SubjectRaw, Data: buf.Bytes()}
		id := fmt.Sprintf("relay-%d", n.Add(1))
		if _, err := js.PublishMsg(r.Context(), msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(streams.Pings)); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
}

// shareOfJetStream runs the rounds: handler serves the HTTP side, h's
// JetStream handle publishes the raw side.
func shareOfJetStream(b *testing.B, h *harness, handler http.Handler) {
	const clients, round = 8, 64
	srv := httptest.NewServer(handler)
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	b.Cleanup(client.CloseIdleConnections)
	s := newPingStream(b)

	// next hands out ping numbers; each worker renders its own bodies.
	var mu sync.Mutex
	n := 0
	next := func() int { mu.Lock(); defer mu.Unlock(); n++; return n }
	// totals are the wall time, the process's CPU time and each ping's
	// latency of one path's rounds.
	type totals struct {
		wall, cpu time.Duration
		lat       []time.Duration
	}
	// run sends round pings from clients workers and adds them to t.
	run := func(t *totals, send func(ps *pingStream) error) {
		var wg sync.WaitGroup
		lats := make([][]time.Duration, clients)
		errs := make(chan error, clients)
		cpu0 := cpuTime(b)
		start := time.Now()
		for w := range clients {
			wg.Go(func() {
				ps := &pingStream{prefix: s.prefix, suffix: s.suffix}
				for range round / clients {
					ps.n = next()
					t := time.Now()
					if err := send(ps); err != nil {
						errs <- err
						return
					}
					lats[w] = append(lats[w], time.Since(t))
				}
			})
		}
		wg.Wait()
		t.wall += time.Since(start)
		t.cpu += cpuTime(b) - cpu0
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		t.lat = append(t.lat, slices.Concat(lats...)...)
	}
	raw := func(ps *pingStream) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		msg := &nats.Msg{Subject: streams.SubjectRaw, Data: ps.plain()}
		_, err := h.js.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("raw-%d", ps.n)), jetstream.WithExpectStream(streams.Pings))
		return err
	}
	post := func(ps *pingStream) error {
		r, err := http.NewRequest(http.MethodPost, srv.URL+"/usage_data", bytes.NewReader(ps.plain()))
		if err != nil {
			return err
		}
		r.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(r)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return nil
	}

	var rawT, httpT totals
	for b.Loop() {
		run(&rawT, raw)
		run(&httpT, post)
	}
	rawRate := float64(len(rawT.lat)) / rawT.wall.Seconds()
	httpRate := float64(len(httpT.lat)) / httpT.wall.Seconds()
	b.ReportMetric(rawRate, "jetstream_pings/s")
	b.ReportMetric(httpRate, "http_pings/s")
	b.ReportMetric(httpRate/rawRate, "share")
	b.ReportMetric(p99(rawT.lat).Seconds()*1e3, "jetstream_p99_ms")
	b.ReportMetric(p99(httpT.lat).Seconds()*1e3, "http_p99_ms")
	// CPU time of the whole process (clients and NATS included) per ping:
	// less sensitive than the rates to load from outside the benchmark.
	b.ReportMetric(float64(rawT.cpu.Microseconds())/float64(len(rawT.lat)), "jetstream_cpu_µs/ping")
	b.ReportMetric(float64(httpT.cpu.Microseconds())/float64(len(httpT.lat)), "http_cpu_µs/ping")
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[(len(d)*99+99)/100-1]
}
