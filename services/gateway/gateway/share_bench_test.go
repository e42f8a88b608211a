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
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/serviceping/serviceping/pkg/streams"
)

// BenchmarkShareOfJetStream measures the gateway as the performance goal
// states it: full-size pings posted over loopback HTTP by 8 concurrent
// clients (4 per core on the project's 2-core machine kind), against the
// same bodies published straight to the same JetStream stream by 8
// concurrent synchronous publishers on the same connection, with
// Nats-Msg-Id, waiting for each PubAck. Both run against one embedded,
// file-backed server in alternating rounds (one op is a round of each), so
// load from outside the benchmark weighs on both alike; share is gateway
// pings/s over raw JetStream pings/s, p99 the accept latency (request
// sent → 201 read).
func BenchmarkShareOfJetStream(b *testing.B) {
	const clients, round = 8, 200
	h := newHarness(b, nil)
	srv := httptest.NewServer(h.h)
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	b.Cleanup(client.CloseIdleConnections)
	s := newPingStream(b)

	// next hands out ping numbers; each worker renders its own bodies.
	var mu sync.Mutex
	n := 0
	next := func() int { mu.Lock(); defer mu.Unlock(); n++; return n }
	// run sends round pings from clients workers and returns the wall time
	// and each ping's latency.
	run := func(send func(ps *pingStream) error) (time.Duration, []time.Duration) {
		var wg sync.WaitGroup
		lat := make([][]time.Duration, clients)
		errs := make(chan error, clients)
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
					lat[w] = append(lat[w], time.Since(t))
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		return elapsed, slices.Concat(lat...)
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

	var rawTime, gwTime time.Duration
	var rawLat, gwLat []time.Duration
	for b.Loop() {
		t, l := run(raw)
		rawTime, rawLat = rawTime+t, append(rawLat, l...)
		t, l = run(post)
		gwTime, gwLat = gwTime+t, append(gwLat, l...)
	}
	rawRate := float64(len(rawLat)) / rawTime.Seconds()
	gwRate := float64(len(gwLat)) / gwTime.Seconds()
	b.ReportMetric(rawRate, "jetstream_pings/s")
	b.ReportMetric(gwRate, "gateway_pings/s")
	b.ReportMetric(gwRate/rawRate, "share")
	b.ReportMetric(p99(rawLat).Seconds()*1e3, "jetstream_p99_ms")
	b.ReportMetric(p99(gwLat).Seconds()*1e3, "gateway_p99_ms")
}

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[(len(d)*99+99)/100-1]
}
