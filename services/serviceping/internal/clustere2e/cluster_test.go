package clustere2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/devopsscore"
	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/natsembed"
	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/tables"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/enricher/enricher"
	"github.com/serviceping/serviceping/services/gateway/gateway"
	"github.com/serviceping/serviceping/services/loader/lake"
	"github.com/serviceping/serviceping/services/loader/loader"
	"github.com/serviceping/serviceping/services/loader/rows"
	"github.com/serviceping/serviceping/services/serviceping/internal/client"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// stage is one replica of a service, run as its binary runs it
// (lifecycle.Run: a connection of its own to the cluster, the streams
// ensured, then the stage until its context ends).
type stage struct {
	name   string
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	conn   atomic.Pointer[nats.Conn]
}

func startStage(t *testing.T, name, natsURL string, so streams.Options, log *slog.Logger, body func(context.Context, lifecycle.Deps) error) *stage {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &stage{name: name, reg: prometheus.NewRegistry(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = lifecycle.Run(ctx, lifecycle.Options{Name: name, NATS: lifecycle.NATS{NATSURL: natsURL, Streams: so}, Logger: log, Registry: s.reg},
			func(ctx context.Context, d lifecycle.Deps) error {
				s.conn.Store(d.Conn)
				return body(ctx, d)
			})
	}()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	return s
}

// running reports an error when the stage has stopped on its own.
func (s *stage) running() error {
	select {
	case <-s.done:
		return fmt.Errorf("%s stopped: %v", s.name, s.err)
	default:
		return nil
	}
}

// stop ends the stage gracefully (a loader flushes its open batch) and
// returns what it returned.
func (s *stage) stop() error {
	s.cancel()
	select {
	case <-s.done:
		return s.err
	case <-time.After(time.Minute):
		return errors.New("still running a minute after it was stopped")
	}
}

// kill stops the stage as a crash does: its connection is closed at once,
// without a drain, so what it fetched and did not acknowledge yet is
// redelivered to the other replica; whatever it still writes cannot be
// acknowledged.
func (s *stage) kill() {
	if nc := s.conn.Load(); nc != nil {
		nc.Close()
	}
	_ = s.stop() // fails: acknowledgements on a closed connection
}

// env holds the settings every replica shares: the cluster, 3-replica
// streams, and short waits so redeliveries happen within the test.
func env(natsURL string, extra map[string]string) envconfig.Lookuper {
	vars := map[string]string{
		"NATS_URL":        natsURL,
		"STREAM_REPLICAS": "3",
		// Instances retry here; the per-uuid and per-IP limits would turn
		// retries from one address into 429s.
		"GATEWAY_RATE_PER_UUID":   "0",
		"GATEWAY_RATE_PER_IP":     "0",
		"GATEWAY_PUBLISH_TIMEOUT": "3s",
		// A message whose acknowledgement was lost with a node comes back
		// after the ack wait.
		"ENRICHER_ACK_WAIT":              "5s",
		"ENRICHER_PUBLISH_TIMEOUT":       "2s",
		"ENRICHER_NAK_MAX_DELAY":         "2s",
		"LOADER_BATCH_MAX_AGE":           "1s",
		"LOADER_WRITE_TIMEOUT":           "5s",
		"LOADER_ACK_WAIT":                "7s",
		"LOADER_NAK_DELAY_MAX":           "2s",
		"LOADER_DEVOPS_LEADERS_INTERVAL": "0",
	}
	for k, v := range extra {
		vars[k] = v
	}
	return envconfig.MapLookuper(vars)
}

// TestTwoReplicasOfEachServiceOnAThreeNodeCluster posts full-size pings
// through two gateways, two enrichers and two loaders sharing their
// durable consumers on a 3-node JetStream cluster, in four rounds: with
// every node up, with the PINGS stream's leader node killed, while that
// node restarts, and while one loader is killed holding an open batch.
// Every accepted ping must land once in ClickHouse (FINAL) and in the lake
// (the readers' rule: latest _version per ping_id), with the same metric
// rows in both; every
// lake file's name must be the batch id of the pings it holds, so two
// loaders can write the same name only for the same pings; and every
// stream must have its 3 current replicas afterwards.
func TestTwoReplicasOfEachServiceOnAThreeNodeCluster(t *testing.T) {
	const perRound, rounds = 16, 4
	ctx := context.Background()
	began := time.Now()
	since := func() time.Duration { return time.Since(began).Round(100 * time.Millisecond) }
	cluster, err := natsembed.StartCluster("serviceping", t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Shutdown)
	urls := cluster.ClientURLs()
	t.Logf("%s: cluster up", since())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	db := chtest.Database(t, "cluster")
	lakeDir := filepath.Join(t.TempDir(), "lake")
	vars := env(urls, map[string]string{"LAKE_URL": lakeDir, "CLICKHOUSE_URL": chtest.URL(t, db)})
	gwCfg, err := gateway.LoadConfig(ctx, vars)
	if err != nil {
		t.Fatal(err)
	}
	enCfg, err := enricher.LoadConfig(ctx, vars)
	if err != nil {
		t.Fatal(err)
	}
	ldCfg, err := loader.LoadConfig(ctx, vars, log)
	if err != nil {
		t.Fatal(err)
	}

	var gatewayURLs []string
	for i := range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gatewayURLs = append(gatewayURLs, "http://"+ln.Addr().String())
		startStage(t, fmt.Sprintf("gateway-%d", i+1), urls, gwCfg.Streams, log, func(ctx context.Context, d lifecycle.Deps) error {
			g, err := gateway.New(gwCfg, gateway.Deps{JS: d.JS, Conn: d.Conn, Logger: log, Registerer: d.Registry, Gatherer: d.Registry})
			if err != nil {
				return err
			}
			defer g.Close()
			return g.Serve(ctx, ln)
		})
	}
	var enrichers []*stage
	for i := range 2 {
		enrichers = append(enrichers, startStage(t, fmt.Sprintf("enricher-%d", i+1), urls, enCfg.Streams, log, func(ctx context.Context, d lifecycle.Deps) error {
			e, err := enricher.New(enCfg, enricher.Deps{JS: d.JS, Logger: log, Registerer: d.Registry})
			if err != nil {
				return err
			}
			return e.Run(ctx)
		}))
	}

	js := testinfra.Connect(t, urls)
	var loaders []*stage
	for i := range 2 {
		loaders = append(loaders, startStage(t, fmt.Sprintf("loader-%d", i+1), urls, ldCfg.Streams, log, func(ctx context.Context, d lifecycle.Deps) error {
			sinks, err := loader.OpenSinks(ctx, ldCfg, log)
			if err != nil {
				return err
			}
			defer sinks.Close()
			l, err := loader.New(ldCfg, loader.Deps{JS: d.JS, Logger: log, Registerer: d.Registry, Sinks: sinks.List(), Reports: sinks.Reports()})
			if err != nil {
				return err
			}
			return l.Run(ctx)
		}))
		// The second loader opens the warehouse once the first one has
		// migrated it and created the durable consumer.
		testinfra.Eventually(t, 30*time.Second, "the loader's durable consumer", func() error {
			_, err := js.Consumer(ctx, streams.Pings, streams.ConsumerLoader)
			return err
		})
	}

	t.Logf("%s: loaders up", since())
	// Both enrichers' workers wait with pull requests before the first
	// ping, so the consumer hands pings to both from the start.
	testinfra.Eventually(t, 30*time.Second, "both enrichers pulling", func() error {
		c, err := js.Consumer(ctx, streams.Pings, streams.ConsumerEnricher)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if want := 2 * enCfg.Workers; info.NumWaiting < want {
			return fmt.Errorf("%d pull requests waiting, want %d (every worker of both)", info.NumWaiting, want)
		}
		return nil
	})

	t.Logf("%s: cluster and services up", since())
	gen, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	p := &poster{gatewayURLs: gatewayURLs, accepted: map[string]int{}, byGateway: make([]int, len(gatewayURLs))}
	post := func(round int) {
		var wg sync.WaitGroup
		for i := round * perRound; i < (round+1)*perRound; i++ {
			wg.Go(func() { p.post(t, gen, i+1) })
		}
		wg.Wait()
	}

	post(0)
	node := streamLeader(t, js, cluster)
	cluster.Stop(node)
	t.Logf("%s: round 1: node %s, the PINGS leader, killed", since(), cluster.Name(node))
	post(1)
	restarted := make(chan error, 1)
	go func() { restarted <- cluster.Restart(node) }()
	post(2)
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: round 2: node %s restarted", since(), cluster.Name(node))
	// Loader-1 is killed while it holds an open batch: fetched, not yet
	// written nor acknowledged, so those pings are redelivered to loader-2.
	posted := make(chan struct{})
	go func() {
		defer close(posted)
		post(3)
	}()
	testinfra.Eventually(t, 30*time.Second, "loader-1 holding an open batch", func() error {
		if n := testinfra.Metric(t, loaders[0].reg, "serviceping_loader_open_batch_messages", nil); n == 0 {
			return errors.New("no open batch")
		}
		return nil
	})
	loaders[0].kill()
	t.Logf("%s: round 3: loader-1 killed holding an open batch", since())
	<-posted
	t.Logf("%s: accepted %d pings in %d attempts (gateway-1 %d, gateway-2 %d)", since(), len(p.accepted), p.attempts.Load(), p.byGateway[0], p.byGateway[1])
	if len(p.accepted) != rounds*perRound {
		t.Fatalf("%d pings accepted, want %d", len(p.accepted), rounds*perRound)
	}
	for i, n := range p.byGateway {
		if n == 0 {
			t.Errorf("gateway-%d accepted no ping", i+1)
		}
	}

	conn := chtest.Conn(t, db)
	var inWarehouse map[string]uint64
	testinfra.Eventually(t, 90*time.Second, "every accepted ping in ClickHouse", func() error {
		for _, s := range append(enrichers, loaders[1]) {
			if err := s.running(); err != nil {
				t.Fatal(err)
			}
		}
		inWarehouse = chtest.CountBy(t, conn, "SELECT ping_id, count() FROM "+db+".pings FINAL GROUP BY ping_id")
		if len(inWarehouse) < len(p.accepted) {
			return fmt.Errorf("%d of %d pings", len(inWarehouse), len(p.accepted))
		}
		return idle(ctx, js)
	})
	for id, n := range inWarehouse {
		if _, ok := p.accepted[id]; !ok || n != 1 {
			t.Errorf("ping %s: %d rows in pings FINAL (accepted: %v)", id, n, ok)
		}
	}
	metricsInWarehouse := chtest.CountBy(t, conn, "SELECT ping_id, count() FROM "+db+".ping_metrics FINAL GROUP BY ping_id")
	t.Logf("%s: ClickHouse before merges: %d pings rows, %d ping_metrics rows", since(),
		chtest.Count(t, conn, "SELECT count() FROM "+db+".pings"), chtest.Count(t, conn, "SELECT count() FROM "+db+".ping_metrics"))

	checkLake(t, lakeDir, p.accepted, metricsInWarehouse)
	checkCompacted(t, lakeDir, p.accepted, metricsInWarehouse)

	for i, s := range enrichers {
		if n := testinfra.Metric(t, s.reg, "serviceping_enricher_messages_total", map[string]string{"outcome": "ack"}); n == 0 {
			t.Errorf("enricher-%d enriched no ping", i+1)
		}
	}
	if n := testinfra.Metric(t, loaders[1].reg, "serviceping_loader_batches_total", map[string]string{"result": "written"}); n == 0 {
		t.Error("loader-2 wrote no batch")
	}

	for _, name := range []string{streams.Pings, streams.Reports, streams.CRM, streams.DLQ, "KV_" + devopsscore.Bucket} {
		testinfra.Eventually(t, 30*time.Second, "stream "+name+" with 3 current replicas", func() error {
			return threeCurrentReplicas(ctx, js, name)
		})
	}
}

// poster posts pinggen's full-size pings like an instance that retries:
// ping n goes to gateway n%2 first and, after a refusal, to the other,
// until one accepts it.
type poster struct {
	gatewayURLs []string
	attempts    atomic.Int64

	mu        sync.Mutex
	accepted  map[string]int // ping_id → the instance number
	byGateway []int
}

func (p *poster) post(t *testing.T, gen *pinggen.Generator, instance int) {
	spec := pinggen.Spec{Instance: instance}
	body := gen.JSON(spec)
	id := ping.ID(pinggen.InstanceOf(instance).UUID, pinggen.RecordedAt(spec.Week, instance))
	want, err := ping.UsageDataID(id)
	if err != nil {
		t.Error(err)
		return
	}
	hc := &http.Client{Timeout: 20 * time.Second}
	deadline := time.Now().Add(45 * time.Second)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		g := (instance + attempt) % len(p.gatewayURLs)
		p.attempts.Add(1)
		resp, err := client.Sender{HTTP: hc, GatewayURL: p.gatewayURLs[g]}.Send(context.Background(), body, false)
		if err == nil && resp.Status/100 == 2 {
			if resp.UsageDataID != want {
				t.Errorf("instance %d: usage_data_id %d, want %d", instance, resp.UsageDataID, want)
			}
			p.mu.Lock()
			p.accepted[id] = instance
			p.byGateway[g]++
			p.mu.Unlock()
			return
		}
		if err == nil && resp.Status != http.StatusServiceUnavailable {
			t.Errorf("instance %d: gateway answered %d: %.200s", instance, resp.Status, resp.Body)
			return
		}
		time.Sleep(100 * time.Millisecond) // an instance's retry delay
	}
	t.Errorf("instance %d: not accepted within 45s", instance)
}

// streamLeader is the index of the node leading the PINGS stream.
func streamLeader(t *testing.T, js jetstream.JetStream, c *natsembed.LocalCluster) int {
	t.Helper()
	s, err := js.Stream(context.Background(), streams.Pings)
	if err != nil {
		t.Fatal(err)
	}
	info := s.CachedInfo()
	if info.Cluster == nil {
		t.Fatal("PINGS has no cluster information")
	}
	for i := range c.Size() {
		if c.Name(i) == info.Cluster.Leader {
			return i
		}
	}
	t.Fatalf("PINGS leader %q is not a node of the cluster", info.Cluster.Leader)
	return -1
}

// idle reports an error while the enricher or the loader has messages
// pending or unacknowledged on PINGS.
func idle(ctx context.Context, js jetstream.JetStream) error {
	for _, name := range []string{streams.ConsumerEnricher, streams.ConsumerLoader} {
		c, err := js.Consumer(ctx, streams.Pings, name)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Errorf("consumer %s: %d pending, %d unacknowledged", name, info.NumPending, info.NumAckPending)
		}
	}
	return nil
}

// threeCurrentReplicas reports an error unless the stream is configured
// with 3 replicas and has a leader and 2 current followers.
func threeCurrentReplicas(ctx context.Context, js jetstream.JetStream, name string) error {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return err
	}
	info := s.CachedInfo()
	if info.Config.Replicas != 3 {
		return fmt.Errorf("configured with %d replicas", info.Config.Replicas)
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return errors.New("no leader")
	}
	current := 0
	for _, r := range info.Cluster.Replicas {
		if r.Current && !r.Offline {
			current++
		}
	}
	if current != 2 {
		return fmt.Errorf("leader %s and %d current followers of %d", info.Cluster.Leader, current, len(info.Cluster.Replicas))
	}
	return nil
}

// checkCompacted compacts every day of the lake (serviceping lake compact)
// and checks that then each accepted ping is there exactly once, as a
// row, with exactly the metric rows ClickHouse has: the duplicates a
// killed loader's redelivered batch left are gone from the files
// themselves.
func checkCompacted(t *testing.T, dir string, accepted map[string]int, metricsInWarehouse map[string]uint64) {
	t.Helper()
	ctx := context.Background()
	d, err := lake.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	days, err := d.Days(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, day := range days {
		if _, err := d.Compact(ctx, day); err != nil {
			t.Fatalf("compact %s: %v", day, err)
		}
	}
	pings, metrics, err := lake.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	perPing := map[string]uint64{}
	for _, m := range metrics {
		perPing[m.PingID]++
	}
	if len(pings) != len(accepted) {
		t.Errorf("after compaction the lake holds %d ping rows, want one per accepted ping (%d)", len(pings), len(accepted))
	}
	for _, p := range pings {
		if _, ok := accepted[p.PingID]; !ok {
			t.Errorf("the compacted lake holds ping %s, which was not accepted", p.PingID)
		}
		if perPing[p.PingID] != metricsInWarehouse[p.PingID] {
			t.Errorf("ping %s: %d metric rows in the compacted lake, %d in ClickHouse", p.PingID, perPing[p.PingID], metricsInWarehouse[p.PingID])
		}
	}
	t.Logf("compacted lake: %d days, %d pings rows, %d ping_metrics rows", len(days), len(pings), len(metrics))
}

// checkLake reads the lake back by the readers' rule (per ping_id the
// rows of its largest _version; per ping_id and key_path for metrics) and
// checks it holds exactly the accepted pings, each with the metric rows
// the warehouse has; and that every file is named by the batch id of the
// pings it holds.
func checkLake(t *testing.T, dir string, accepted map[string]int, metricsInWarehouse map[string]uint64) {
	t.Helper()
	pings, metrics, err := lake.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	latest := map[string]uint64{}
	for _, r := range pings {
		latest[r.PingID] = max(latest[r.PingID], r.RowVersion)
	}
	if len(latest) != len(accepted) {
		t.Errorf("the lake holds %d pings, want %d", len(latest), len(accepted))
	}
	for id := range accepted {
		if _, ok := latest[id]; !ok {
			t.Errorf("ping %s (instance %d) is not in the lake", id, accepted[id])
		}
	}
	keys := map[string]map[string]bool{} // ping_id → key paths of its latest version
	for _, m := range metrics {
		if m.RowVersion != latest[m.PingID] {
			continue
		}
		if keys[m.PingID] == nil {
			keys[m.PingID] = map[string]bool{}
		}
		keys[m.PingID][m.KeyPath] = true
	}
	for id := range accepted {
		if n := uint64(len(keys[id])); n != metricsInWarehouse[id] || n < 1000 {
			t.Errorf("ping %s: %d metric rows in the lake, %d in ClickHouse (a full-size ping has over 1,000)", id, n, metricsInWarehouse[id])
		}
	}
	t.Logf("lake: %d pings rows and %d ping_metrics rows for %d pings", len(pings), len(metrics), len(latest))

	files, err := lake.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	batches := map[string][]string{} // batch id → its pings files
	for _, key := range files {
		if table, _, _ := strings.Cut(key, "/"); table == tables.Pings {
			id := strings.TrimSuffix(filepath.Base(key), ".parquet")
			batches[id] = append(batches[id], key)
		}
	}
	for id, keys := range batches {
		// Read this batch's files alone: link them into a lake of their own.
		one := t.TempDir()
		for _, key := range keys {
			dst := filepath.Join(one, filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(filepath.Join(dir, filepath.FromSlash(key)), dst); err != nil {
				t.Fatal(err)
			}
		}
		rs, _, err := lake.ReadDir(one)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.PingID)
		}
		if got := rows.BatchID(ids); got != id {
			t.Errorf("lake files %v hold pings whose batch id is %s", keys, got)
		}
		if !slices.ContainsFunc(files, func(k string) bool {
			return strings.HasPrefix(k, tables.Metrics+"/") && strings.HasSuffix(k, "/"+id+".parquet")
		}) {
			t.Errorf("batch %s has pings files but no ping_metrics file", id)
		}
	}
	t.Logf("lake: %d batches", len(batches))
}
