package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/gateway/gateway"
)

const docsExamplePath = "../../../testdata/payloads/docs_example.json"

// harness is a gateway over a real embedded JetStream.
type harness struct {
	g   *gateway.Gateway
	h   http.Handler
	nc  *nats.Conn
	js  jetstream.JetStream
	reg *prometheus.Registry
}

// testConfig is the default configuration (the env tags') with rate limits
// off (tests post many pings from one address).
func testConfig(tb testing.TB) gateway.Config {
	tb.Helper()
	cfg, err := lifecycle.Defaults[gateway.Config]()
	if err != nil {
		tb.Fatal(err)
	}
	cfg.RatePerUUID, cfg.RatePerIP = 0, 0
	cfg.PublishTimeout = 2 * time.Second
	return cfg
}

func newHarness(tb testing.TB, mod func(*gateway.Config, *gateway.Deps)) *harness {
	tb.Helper()
	_, url := testinfra.NATS(tb)
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.ReconnectBufSize(-1))
	if err != nil {
		tb.Fatalf("connect nats: %v", err)
	}
	tb.Cleanup(nc.Close)
	return newHarnessConn(tb, nc, mod)
}

func newHarnessConn(tb testing.TB, nc *nats.Conn, mod func(*gateway.Config, *gateway.Deps)) *harness {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := streams.Ensure(ctx, js, streams.Options{}); err != nil {
		tb.Fatalf("ensure streams: %v", err)
	}
	reg := prometheus.NewRegistry()
	cfg := testConfig(tb)
	deps := gateway.Deps{JS: js, Logger: slog.New(slog.DiscardHandler), Registerer: reg, ScoreJS: scoreJS(tb, nc)}
	if mod != nil {
		mod(&cfg, &deps)
	}
	g, err := gateway.New(cfg, deps)
	if err != nil {
		tb.Fatalf("new gateway: %v", err)
	}
	tb.Cleanup(g.Close)
	return &harness{g: g, h: g.Handler(), nc: nc, js: js, reg: reg}
}

// scoreJS is a second connection to nc's server for the DevOps Score
// reads, as Run and the all-in-one give the gateway.
func scoreJS(tb testing.TB, nc *nats.Conn) jetstream.JetStream {
	tb.Helper()
	c, err := nats.Connect(nc.ConnectedUrl())
	if err != nil {
		tb.Fatalf("connect nats: %v", err)
	}
	tb.Cleanup(c.Close)
	js, err := jetstream.New(c)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

type req struct {
	method, path string
	body         []byte
	header       map[string]string
}

// wantCode is nil when rec has status code, else says what it answered.
func wantCode(rec *httptest.ResponseRecorder, code int) error {
	if rec.Code != code {
		return fmt.Errorf("status %d, body %s", rec.Code, rec.Body)
	}
	return nil
}

func (h *harness) do(tb testing.TB, r req) *httptest.ResponseRecorder {
	tb.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	hr := httptest.NewRequest(r.method, r.path, bytes.NewReader(r.body))
	if _, ok := r.header["Content-Type"]; !ok && r.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
			continue
		}
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, hr)
	return rec
}

// postPing posts body to /usage_data, gzipped when gz.
func (h *harness) postPing(tb testing.TB, body []byte, gz bool) *httptest.ResponseRecorder {
	tb.Helper()
	r := req{path: "/usage_data", body: body, header: map[string]string{"Content-Type": "application/json", "Accept": "application/json"}}
	if gz {
		r.body = gateway.GzipBytes(tb, body)
		r.header["Content-Encoding"] = "gzip"
	}
	return h.do(tb, r)
}

// stream returns the handle of stream name and a context that bounds the
// calls made on it; an error fails tb.
func (h *harness) stream(tb testing.TB, name string) (context.Context, jetstream.Stream) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	tb.Cleanup(cancel)
	s, err := h.js.Stream(ctx, name)
	if err != nil {
		tb.Fatalf("stream %s: %v", name, err)
	}
	return ctx, s
}

func (h *harness) msgCount(tb testing.TB, stream string) uint64 {
	tb.Helper()
	ctx, s := h.stream(tb, stream)
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatalf("stream %s info: %v", stream, err)
	}
	return info.State.Msgs
}

func (h *harness) lastMsg(tb testing.TB, stream, subject string) *jetstream.RawStreamMsg {
	tb.Helper()
	ctx, s := h.stream(tb, stream)
	m, err := s.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		tb.Fatalf("last message on %s: %v", subject, err)
	}
	return m
}

// generator returns a ping generator; an error fails tb.
func generator(tb testing.TB) *pinggen.Generator {
	tb.Helper()
	g, err := pinggen.New()
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	return b
}

// wantID is the usage_data_id the contract promises for body.
func wantID(tb testing.TB, body []byte) (pingID string, id int64) {
	tb.Helper()
	var p struct {
		UUID       string `json:"uuid"`
		RecordedAt string `json:"recorded_at"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		tb.Fatalf("parse ping: %v", err)
	}
	pingID = ping.ID(p.UUID, p.RecordedAt)
	id, err := ping.UsageDataID(pingID)
	if err != nil {
		tb.Fatal(err)
	}
	return pingID, id
}

func usageDataID(tb testing.TB, rec *httptest.ResponseRecorder) int64 {
	tb.Helper()
	var resp struct {
		ConvIndex struct {
			UsageDataID int64 `json:"usage_data_id"`
		} `json:"conv_index"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		tb.Fatalf("response %q: %v", rec.Body.String(), err)
	}
	return resp.ConvIndex.UsageDataID
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func decodeError(tb testing.TB, rec *httptest.ResponseRecorder) errorBody {
	tb.Helper()
	var e errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		tb.Fatalf("error response %q is not JSON: %v", rec.Body.String(), err)
	}
	return e
}

// zeroReader yields n zero bytes without allocating them.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}
