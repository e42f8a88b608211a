package enricher_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/enricher/enricher"
	"github.com/serviceping/serviceping/services/enricher/internal/apitest"
	"github.com/serviceping/serviceping/services/enricher/internal/seed"
)

// Paths of the repository files the tests use.
var (
	contractFile = filepath.Join("..", "api", "openapi.yaml")
	ddlDir       = filepath.Join("..", "..", "..", "deploy", "postgres")
	seedFile     = filepath.Join("..", "..", "..", "testdata", "directory", "seed.sql")
)

func randomName(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// bus starts an embedded JetStream with the streams in place.
func bus(t *testing.T) jetstream.JetStream {
	t.Helper()
	js, _ := testinfra.JetStream(t)
	return js
}

// run starts an enricher on js until the test ends.
func run(t *testing.T, js jetstream.JetStream, cfg enricher.Config, reg prometheus.Registerer) {
	t.Helper()
	e, err := enricher.New(cfg, enricher.Deps{JS: js, Registerer: reg, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	testinfra.Background(t, 30*time.Second, "enricher Run", e.Run)
}

// directoryDB creates a private database with the DDL of deploy/postgres/
// and the seed of testdata/directory/, dropped when the test ends.
func directoryDB(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(ddlDir, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no DDL in %s: %v", ddlDir, err)
	}
	return testinfra.PostgresDB(t, "enricher_test", append(files, seedFile)...)
}

// sharedRedis returns the test Redis on DB 5 and a fresh key prefix.
func sharedRedis(t *testing.T) (redisURL, prefix string) {
	t.Helper()
	u, err := url.Parse(testinfra.Env(t, "SERVICEPING_TEST_REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/5"
	return u.String(), "enricher-test:" + randomName(t) + ":"
}

// redisServer is a redis-server process the test can stop and start again
// on the same port.
type redisServer struct {
	t    *testing.T
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not installed: %v (scripts/test-env.sh installs it)", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &redisServer{t: t, port: port}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir())
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	testinfra.Eventually(r.t, 10*time.Second, "redis-server answers", func() error { return c.Ping(context.Background()).Err() })
}

func (r *redisServer) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// apiServer serves an apitest.Server on a fixed loopback address that can
// be closed (connections refused) and opened again.
type apiServer struct {
	*apitest.Server
	t    *testing.T
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func startAPI(t *testing.T) *apiServer {
	t.Helper()
	c, err := apitest.LoadContract(contractFile)
	if err != nil {
		t.Fatal(err)
	}
	a := &apiServer{Server: apitest.NewServer(c, seed.Generate()), t: t, addr: "127.0.0.1:0"}
	a.Open()
	t.Cleanup(func() {
		a.Close()
		if err := a.Violations(); err != nil {
			t.Errorf("contract violations: %v", err)
		}
	})
	return a
}

func (a *apiServer) URL() string { return "http://" + a.addr }

func (a *apiServer) Open() {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		a.t.Fatal(err)
	}
	a.addr = ln.Addr().String()
	srv := &http.Server{Handler: a.Server, ReadHeaderTimeout: 5 * time.Second}
	a.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

func (a *apiServer) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv != nil {
		_ = a.srv.Close()
		a.srv = nil
	}
}

// baseConfig is a fast configuration for tests.
// withAPIs starts a Licenses API and a CRM API and returns them with
// baseConfig pointed at them.
func withAPIs(t *testing.T) (lic, crm *apiServer, cfg enricher.Config) {
	t.Helper()
	lic, crm = startAPI(t), startAPI(t)
	cfg = baseConfig()
	cfg.DirectoryURL, cfg.CRMURL = lic.URL(), crm.URL()
	return lic, crm, cfg
}

func baseConfig() enricher.Config {
	return enricher.Config{
		Workers: 4, AckWait: 20 * time.Second, MaxAckPending: 256, NakMaxDelay: 500 * time.Millisecond, PublishTimeout: 2 * time.Second,
		LookupTimeout: time.Second, LookupBudget: 2 * time.Second, RetryInitial: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		BreakerFailures: 5, BreakerOpenFor: 300 * time.Millisecond, CRMWorkers: 2, CacheTimeout: 200 * time.Millisecond,
	}
}

var gen = sync.OnceValue(func() *pinggen.Generator {
	g, err := pinggen.New()
	if err != nil {
		panic(err)
	}
	return g
})

// rawOf builds the raw ping of installation n in week w.
func rawOf(t testing.TB, n, w int) *servicepingv1.RawPing {
	t.Helper()
	return rawPayload(t, gen().JSON(pinggen.Spec{Instance: n, Week: w}), pinggen.InstanceOf(n).UUID, pinggen.RecordedAt(w, n))
}

func rawPayload(t testing.TB, payload []byte, uuid, recordedAt string) *servicepingv1.RawPing {
	t.Helper()
	id := ping.ID(uuid, recordedAt)
	udi, err := ping.UsageDataID(id)
	if err != nil {
		t.Fatal(err)
	}
	return &servicepingv1.RawPing{PingId: id, UsageDataId: udi, Uuid: uuid, RecordedAt: recordedAt, Payload: payload, Source: "api"}
}

func publishRaw(t testing.TB, js jetstream.JetStream, raws ...*servicepingv1.RawPing) {
	t.Helper()
	for _, r := range raws {
		b, err := proto.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(context.Background(), streams.SubjectRaw, b, jetstream.WithMsgID(streams.RawMsgID(r.PingId, r.ReenrichId))); err != nil {
			t.Fatal(err)
		}
	}
}

// enrichedPing is one message on serviceping.pings.enriched.
type enrichedPing struct {
	*servicepingv1.EnrichedPing
	MsgID string
}

// readSubject returns every message on subject, waiting until there are want.
func readSubject(t *testing.T, js jetstream.JetStream, stream, subject string, want int, timeout time.Duration) []jetstream.Msg {
	t.Helper()
	ctx := context.Background()
	testinfra.Eventually(t, timeout, fmt.Sprintf("%d messages on %s", want, subject), func() error {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			return err
		}
		if got := info.State.Subjects[subject]; got < uint64(want) {
			return fmt.Errorf("%d so far", got)
		}
		return nil
	})
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for len(out) < want+1 {
		batch, err := cons.FetchNoWait(want + 1 - len(out))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			out = append(out, m)
			n++
		}
		if n == 0 {
			break
		}
	}
	return out
}

func readEnriched(t *testing.T, js jetstream.JetStream, want int, timeout time.Duration) []enrichedPing {
	t.Helper()
	var out []enrichedPing
	for _, m := range readSubject(t, js, streams.Pings, streams.SubjectEnriched, want, timeout) {
		var ep servicepingv1.EnrichedPing
		if err := proto.Unmarshal(m.Data(), &ep); err != nil {
			t.Fatal(err)
		}
		out = append(out, enrichedPing{EnrichedPing: &ep, MsgID: m.Headers().Get(jetstream.MsgIDHeader)})
	}
	if len(out) != want {
		t.Fatalf("%d enriched pings, want %d", len(out), want)
	}
	return out
}

// metric sums the samples of name whose labels include labels.
func metric(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	return testinfra.Metric(t, g, name, labels)
}

var errNotYet = errors.New("not yet")
