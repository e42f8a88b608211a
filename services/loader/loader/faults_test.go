package loader

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/faultproxy"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/internal/miniotest"
	"github.com/serviceping/serviceping/services/loader/internal/testpings"
	"github.com/serviceping/serviceping/services/loader/lake"
	"github.com/serviceping/serviceping/services/loader/rows"
	"github.com/serviceping/serviceping/services/loader/warehouse"
)

// flow publishes n pings at a fixed interval in the background.
type flow struct {
	mu   sync.Mutex
	sent []*servicepingv1.EnrichedPing
	done chan struct{}
}

func (e *env) steadyFlow(t *testing.T, n int, every time.Duration) *flow {
	t.Helper()
	f := &flow{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := range n {
			<-tick.C
			ep, err := testpings.Generated(e.gen, i, 3)
			if err != nil {
				t.Error(err)
				return
			}
			e.publishEnvelope(t, ep)
			f.mu.Lock()
			f.sent = append(f.sent, ep)
			f.mu.Unlock()
		}
	}()
	t.Cleanup(func() { <-f.done })
	return f
}

func (f *flow) wait(t *testing.T) []*servicepingv1.EnrichedPing {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(60 * time.Second):
		t.Fatal("publisher stuck")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent
}

func faultConfig(root string) Config {
	cfg := testConfig(root)
	cfg.BatchMaxPings, cfg.MaxAckPending = 10, 200
	cfg.WriteTimeout, cfg.AckWait = 3*time.Second, 10*time.Second
	cfg.WriteAttempts = 2
	return cfg
}

// downUnderFlow sends a steady flow of 60 pings to the started loader;
// once the first batch is acked, down takes a sink down for 2 s (checked
// by outage) and up brings it back. It returns the pings sent, once all
// are acked and each is in the warehouse once.
func downUnderFlow(t *testing.T, e *env, wh *warehouse.Sink, down func(), up func() error) []*servicepingv1.EnrichedPing {
	t.Helper()
	f := e.steadyFlow(t, 60, 50*time.Millisecond)
	testinfra.Eventually(t, 20*time.Second, "first batch acked", func() error { return firstAcked(e.consumerInfo(t)) })
	down()
	outage(t, e, wh, 2*time.Second)
	if err := up(); err != nil {
		t.Fatal(err)
	}
	want := f.wait(t)
	waitAcked(t, e, uint64(len(want)), 90*time.Second)
	checkWarehouse(t, wh, want)
	return want
}

// firstAcked is nil once info's ack floor has moved.
func firstAcked(info *jetstream.ConsumerInfo) error {
	if info.AckFloor.Stream == 0 {
		return fmt.Errorf("nothing acked: %d awaiting ack, %d pending", info.NumAckPending, info.NumPending)
	}
	return nil
}

// outage checks, while a sink is down, that the ack floor does not move
// and that every acked ping is in the warehouse; it returns when down
// has lasted d.
func outage(t *testing.T, e *env, wh *warehouse.Sink, d time.Duration) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // a write that finished just before the cut settles
	floor := e.consumerInfo(t).AckFloor.Stream
	direct := chtest.Conn(t, wh.Database())
	if n := chtest.Count(t, direct, "SELECT count() FROM pings FINAL"); n < floor {
		t.Errorf("acked %d messages but only %d pings are in ClickHouse", floor, n)
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		info := e.consumerInfo(t)
		if info.AckFloor.Stream != floor {
			t.Fatalf("ack floor moved from %d to %d while a sink was down", floor, info.AckFloor.Stream)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	if info := e.consumerInfo(t); info.NumAckPending+int(info.NumPending) == 0 {
		t.Error("nothing waiting during the outage: the flow did not reach the loader")
	}
}

func checkLakeDistinct(t *testing.T, pings []rows.Ping, want []*servicepingv1.EnrichedPing) {
	t.Helper()
	got := map[string]bool{}
	for _, p := range pings {
		got[p.PingID] = true
	}
	for _, ep := range want {
		if !got[ep.GetPingId()] {
			t.Errorf("ping %s missing from the lake", ep.GetPingId())
		}
	}
}

// openProxiedWarehouse opens the ClickHouse sink on a fresh database
// through a proxy that the test can cut.
func openProxiedWarehouse(t *testing.T, prefix string) (*faultproxy.Proxy, *warehouse.Sink) {
	t.Helper()
	proxy, err := faultproxy.Start(strings.TrimPrefix(chtest.Endpoint(t), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	return proxy, openWarehouse(t, prefix, "http://"+proxy.Addr)
}

// TestClickHouseDownUnderFlow cuts the ClickHouse endpoint for 2 s while
// pings keep arriving: nothing is acked meanwhile, and once it is back
// every ping lands exactly once without intervention.
func TestClickHouseDownUnderFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	proxy, wh := openProxiedWarehouse(t, "fault_ch")
	dir := newDir(t)
	e.start(t, faultConfig(dir.Root()), dir, wh)
	want := downUnderFlow(t, e, wh, proxy.Cut, proxy.Restore)
	pings, _ := readLake(t, dir.Root())
	checkLakeDistinct(t, pings, want)
}

// TestS3DownUnderFlow kills MinIO for 2 s under a steady flow and restarts
// it on the same port and data: nothing acked meanwhile, everything lands
// once it is back. Not parallel: the AWS credentials come from the
// environment.
func TestS3DownUnderFlow(t *testing.T) {
	m := miniotest.Start(t)
	m.Bucket(t, "lake")
	m.SetCredentials(t)
	e := newEnv(t)
	s3lake, err := lake.OpenS3(context.Background(), "s3://lake/pings", lake.S3Options{Endpoint: m.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	wh := openWarehouse(t, "fault_s3")
	cfg := faultConfig("s3://lake/pings")
	cfg.S3Endpoint = m.Endpoint
	e.start(t, cfg, s3lake, wh)
	want := downUnderFlow(t, e, wh, m.Stop, m.Restart)
	pings, _, err := lake.ReadS3(context.Background(), s3lake)
	if err != nil {
		t.Fatal(err)
	}
	checkLakeDistinct(t, pings, want)
}
