package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/serviceping/internal/client"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipelinetest"
)

// intake posts full-size pings from several senders until stopped, and
// keeps what the gateway answered.
type intake struct {
	sender   client.Sender
	gen      *pinggen.Generator
	seq      atomic.Int64 // the last instance number used
	mu       sync.Mutex
	accepted map[string]bool // ping ids answered 201
	failures []string        // any other answer
}

// post sends n pings, each of an instance of its own, over senders
// concurrent requests.
func (in *intake) post(n, senders int) {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				spec := pinggen.Spec{Instance: 5000 + int(in.seq.Add(1)), Week: 1}
				body := in.gen.JSON(spec)
				resp, err := in.sender.Send(context.Background(), body, false)
				in.mu.Lock()
				if err != nil || resp.Status != http.StatusCreated {
					in.failures = append(in.failures, fmt.Sprintf("status %d, err %v", resp.Status, err))
				} else {
					inst := pinggen.InstanceOf(spec.Instance)
					in.accepted[ping.ID(inst.UUID, pinggen.RecordedAt(spec.Week, spec.Instance))] = true
				}
				in.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestIntakeSurvivesWarehouse: in the all-in-one, pings keep being accepted
// while queries exhaust the engine's memory and while the engine is killed
// outright, and every accepted ping lands once the engine is back.
func TestIntakeSurvivesWarehouse(t *testing.T) {
	p := pipelinetest.Start(t, map[string]string{"WAREHOUSE_MAX_SERVER_MEMORY_USAGE": "1500000000"})
	g, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	in := &intake{gen: g, accepted: map[string]bool{},
		sender: client.Sender{HTTP: &http.Client{Timeout: 30 * time.Second}, GatewayURL: p.GatewayURL}}

	// 1. Queries that lift their own limit and run the engine out of
	// memory, one after another, for as long as pings are posted.
	stop := make(chan struct{})
	var exhausted atomic.Int64
	var queryErr atomic.Value
	var qwg sync.WaitGroup
	qwg.Go(func() {
		hog := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		sql := "SELECT uniqExact(number) FROM numbers_mt(3000000000) SETTINGS max_memory_usage = 0"
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := hog.Post(p.Embedded.URL+"/?query="+url.QueryEscape(sql), "text/plain", nil)
			if err != nil {
				queryErr.Store(err.Error())
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(b), "MEMORY_LIMIT_EXCEEDED") {
				queryErr.Store(fmt.Sprintf("%d %s", resp.StatusCode, b))
				return
			}
			exhausted.Add(1)
		}
	})
	testinfra.Eventually(t, time.Minute, "a query exhausting the engine's memory", func() error {
		if exhausted.Load() == 0 {
			return fmt.Errorf("none yet (query error: %v)", queryErr.Load())
		}
		return nil
	})
	in.post(30, 4)
	close(stop)
	qwg.Wait()
	if e := queryErr.Load(); e != nil {
		t.Fatalf("a memory-hungry query did not fail with MEMORY_LIMIT_EXCEEDED: %v", e)
	}
	restarts := testinfra.Metric(t, p.Registry, "serviceping_warehouse_engine_restarts_total", nil)
	if restarts != 0 {
		t.Fatalf("the engine restarted %v times under memory pressure; its bound should have held", restarts)
	}

	// 2. The engine frozen, then killed outright, while pings are posted.
	pid := p.Embedded.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	in.post(15, 4)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	in.post(15, 4)

	if len(in.failures) > 0 {
		t.Fatalf("the gateway did not accept every ping: %d failures, first %s", len(in.failures), in.failures[0])
	}
	if len(in.accepted) != 60 {
		t.Fatalf("%d distinct pings accepted, want 60", len(in.accepted))
	}

	// 3. Every accepted ping lands, once, with its metrics.
	ctx := context.Background()
	conn, err := chconn.Open(ctx, p.ClickHouseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	testinfra.Eventually(t, 3*time.Minute, "every accepted ping in the warehouse", func() error {
		rows, err := conn.Query(ctx, `SELECT p.ping_id, p.n, m.n FROM
			(SELECT ping_id, count() AS n FROM serviceping.pings FINAL GROUP BY ping_id) AS p
			LEFT JOIN (SELECT ping_id, count() AS n FROM serviceping.ping_metrics FINAL GROUP BY ping_id) AS m USING (ping_id)`)
		if err != nil {
			return err
		}
		defer rows.Close()
		landed := 0
		for rows.Next() {
			var id string
			var n, metrics uint64
			if err := rows.Scan(&id, &n, &metrics); err != nil {
				return err
			}
			if !in.accepted[id] {
				t.Fatalf("the warehouse holds ping %s, which was not accepted", id)
			}
			if n != 1 {
				t.Fatalf("ping %s has %d rows in pings FINAL", id, n)
			}
			if metrics > 0 {
				landed++
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if landed != len(in.accepted) {
			return fmt.Errorf("%d of %d pings landed with their metrics", landed, len(in.accepted))
		}
		return nil
	})
	if got := testinfra.Metric(t, p.Registry, "serviceping_warehouse_engine_restarts_total", nil); got != 1 {
		t.Fatalf("engine restarts = %v, want 1 (the kill)", got)
	}
	// Caught up: the consumers' backlog metrics say so.
	for _, c := range []string{"enricher", "loader"} {
		labels := map[string]string{"stream": "PINGS", "consumer": c}
		testinfra.Eventually(t, 30*time.Second, c+"'s backlog drained", func() error {
			for _, m := range []string{"serviceping_consumer_pending_messages", "serviceping_consumer_ack_pending_messages", "serviceping_consumer_oldest_unacked_age_seconds"} {
				if v := testinfra.Metric(t, p.Registry, m, labels); v != 0 {
					return fmt.Errorf("%s = %v", m, v)
				}
			}
			return nil
		})
	}
	if p.Embedded.PID() == pid {
		t.Fatalf("the killed engine %d still serves", pid)
	}
}
