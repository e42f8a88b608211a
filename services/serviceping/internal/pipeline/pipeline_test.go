package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/loader/lake"
	"github.com/serviceping/serviceping/services/loader/rows"
	"github.com/serviceping/serviceping/services/serviceping/internal/client"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipeline"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipelinetest"
	"github.com/serviceping/serviceping/services/serviceping/internal/replay"
	"github.com/serviceping/serviceping/services/serviceping/internal/warehouse"
)

// TestMain lets the test binary serve as the embedded engine's process.
func TestMain(m *testing.M) { pipelinetest.Main(m) }

type sent struct {
	payload []byte
	pingID  string
}

// TestEndToEnd posts the docs example and generated full-size pings, plain
// and gzip, resubmits some, and reads the Parquet lake back: one row per
// ping, its ping_id, and every leaf value.
func TestEndToEnd(t *testing.T) {
	p := pipelinetest.Start(t, nil)
	ctx := context.Background()
	s := client.Sender{HTTP: &http.Client{Timeout: 30 * time.Second}, GatewayURL: p.GatewayURL}

	docs, err := os.ReadFile("../../../../testdata/payloads/docs_example.json")
	if err != nil {
		t.Fatal(err)
	}
	g, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	payloads := [][]byte{docs}
	for i := range 6 {
		payloads = append(payloads, g.JSON(pinggen.Spec{Instance: 100 + i, Week: i}))
	}
	want := map[string]sent{}
	post := func(i int, body []byte) {
		t.Helper()
		gz := i%2 == 1
		wire := body
		if gz {
			wire = client.Gzip(body)
		}
		resp, err := s.Send(ctx, wire, gz)
		if err != nil || resp.Status != http.StatusCreated {
			t.Fatalf("payload %d (gzip %v): status %d, err %v, body %s", i, gz, resp.Status, err, resp.Body)
		}
		var root struct{ UUID, RecordedAt string }
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		root.UUID, root.RecordedAt = m["uuid"].(string), m["recorded_at"].(string)
		id := ping.ID(root.UUID, root.RecordedAt)
		wantUDI, _ := ping.UsageDataID(id)
		if resp.UsageDataID != wantUDI {
			t.Fatalf("payload %d: usage_data_id %d, want %d", i, resp.UsageDataID, wantUDI)
		}
		want[id] = sent{payload: body, pingID: id}
	}
	for i, b := range payloads {
		post(i, b)
	}
	// Resubmissions, once with the other encoding: stored once, same id.
	post(2, payloads[1])
	post(3, payloads[2])
	post(0, payloads[0])

	pings, metrics := waitForLake(t, p, len(want))

	byPing := map[string][]rows.Metric{}
	for _, m := range metrics {
		byPing[m.PingID] = append(byPing[m.PingID], m)
	}
	for _, pr := range pings {
		w, ok := want[pr.PingID]
		if !ok {
			t.Errorf("lake holds unexpected ping %s", pr.PingID)
			continue
		}
		if pr.Payload != string(w.payload) {
			t.Errorf("ping %s: payload not kept byte for byte", pr.PingID)
		}
		checkLeaves(t, pr.PingID, w.payload, byPing[pr.PingID])
	}
	if len(pings) != len(want) {
		t.Fatalf("lake holds %d ping rows, want %d (one per distinct ping)", len(pings), len(want))
	}

	// The warehouse: one row per distinct ping, every leaf of each.
	conn, err := chconn.Open(ctx, p.ClickHouseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM serviceping.pings FINAL").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != uint64(len(want)) {
		t.Errorf("SELECT count() FROM serviceping.pings FINAL = %d, want %d", n, len(want))
	}
	got := chtest.CountBy(t, conn, "SELECT ping_id, count() FROM serviceping.ping_metrics FINAL GROUP BY ping_id")
	for id, ms := range byPing {
		if got[id] != uint64(len(ms)) {
			t.Errorf("ping %s: %d metric rows in ClickHouse, %d in the lake", id, got[id], len(ms))
		}
	}
	if len(got) != len(want) {
		t.Errorf("ClickHouse has metrics of %d pings, want %d", len(got), len(want))
	}
	// The query `serviceping run` suggests runs.
	res, err := warehouse.Query(ctx, conn, warehouse.FirstQuery)
	if err != nil || len(res.Rows) == 0 {
		t.Errorf("first query: %v rows, err %v", res, err)
	}

	// A replay of the stream runs every ping through the pipeline again:
	// newer versions replace the rows, the counts do not move.
	before := versions(t, conn)
	js, err := p.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := replay.Raw(ctx, js, replay.Options{ID: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	// The resubmissions never entered the stream (the duplicate window
	// dropped them at the gateway), so there is no copy to skip.
	if rep.Pings != len(want) || rep.Skipped != 0 || rep.Undecodable != 0 {
		t.Fatalf("replay: %+v, want %d pings, nothing skipped", rep, len(want))
	}
	testinfra.Eventually(t, 60*time.Second, "every ping replayed into the warehouse", func() error {
		after := versions(t, conn)
		replayed := 0
		for id, v := range before {
			if after[id] > v {
				replayed++
			}
		}
		if replayed < len(before) {
			return fmt.Errorf("%d of %d pings replayed", replayed, len(before))
		}
		if !settled(ctx, t, js) {
			return errors.New("every ping replayed, the consumers not settled yet")
		}
		return nil
	})
	if err := conn.QueryRow(ctx, "SELECT count() FROM serviceping.pings FINAL").Scan(&n); err != nil || n != uint64(len(want)) {
		t.Errorf("after the replay: pings FINAL = %d (err %v), want %d", n, err, len(want))
	}
	for id, ms := range byPing {
		var c uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM serviceping.ping_metrics FINAL WHERE ping_id = ?", id).Scan(&c); err != nil || int(c) != len(ms) {
			t.Errorf("after the replay: ping %s has %d metric rows (err %v), want %d", id, c, err, len(ms))
		}
	}
}

// versions maps each ping in the warehouse to its row version.
func versions(t *testing.T, conn driver.Conn) map[string]uint64 {
	t.Helper()
	return chtest.CountBy(t, conn, "SELECT ping_id, _version FROM serviceping.pings FINAL")
}

// waitForLake polls until the loader has acknowledged everything and the
// lake holds n pings, then returns its contents.
func waitForLake(t *testing.T, p *pipeline.Pipeline, n int) ([]rows.Ping, []rows.Metric) {
	t.Helper()
	js, err := p.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	testinfra.Eventually(t, 60*time.Second, fmt.Sprintf("%d pings in the lake, every message acknowledged", n), func() error {
		pings, _, err := lake.ReadDir(p.LakeURL)
		if err != nil {
			t.Fatal(err)
		}
		if len(pings) >= n && settled(ctx, t, js) {
			return nil
		}
		state := fmt.Sprintf("lake holds %d pings", len(pings))
		for _, name := range []string{streams.ConsumerEnricher, streams.ConsumerLoader} {
			if c, err := js.Consumer(ctx, streams.Pings, name); err == nil {
				if info, err := c.Info(ctx); err == nil {
					state += fmt.Sprintf("; consumer %s: pending %d, ack pending %d, redelivered %d, delivered %d", name, info.NumPending, info.NumAckPending, info.NumRedelivered, info.Delivered.Consumer)
				}
			}
		}
		return errors.New(state)
	})
	// Read again after settling: nothing more may arrive.
	pings, metrics, err := lake.ReadDir(p.LakeURL)
	if err != nil {
		t.Fatal(err)
	}
	return pings, metrics
}

// settled reports whether both consumers have nothing pending or unacked.
func settled(ctx context.Context, t *testing.T, js jetstream.JetStream) bool {
	t.Helper()
	for _, name := range []string{streams.ConsumerEnricher, streams.ConsumerLoader} {
		c, err := js.Consumer(ctx, streams.Pings, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return false
		}
	}
	return true
}

// leaf is the expected metric row of one key path, computed independently
// of the loader's flattener.
type leaf struct {
	kind  string
	value *float64
	text  string
}

// reference flattens payload with encoding/json: every scalar leaf by its
// dotted path, arrays as compact JSON, empty objects as "{}".
func reference(t *testing.T, prefix string, raw json.RawMessage, out map[string]leaf) {
	t.Helper()
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if len(m) == 0 && prefix != "" {
			out[prefix] = leaf{kind: "object", text: "{}"}
		}
		for k, v := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			reference(t, p, v, out)
		}
	case '[':
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			t.Fatal(err)
		}
		out[prefix] = leaf{kind: "array", text: buf.String()}
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		out[prefix] = leaf{kind: "string", text: s}
	case 't', 'f':
		v := 0.0
		if raw[0] == 't' {
			v = 1
		}
		out[prefix] = leaf{kind: "boolean", value: &v}
	case 'n':
		out[prefix] = leaf{kind: "null"}
	default:
		v, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			t.Fatal(err)
		}
		out[prefix] = leaf{kind: "number", value: &v}
	}
}

func checkLeaves(t *testing.T, pingID string, payload []byte, got []rows.Metric) {
	t.Helper()
	want := map[string]leaf{}
	reference(t, "", payload, want)
	if len(got) != len(want) {
		t.Errorf("ping %s: %d metric rows, want %d leaves", pingID, len(got), len(want))
	}
	seen := map[string]bool{}
	for _, m := range got {
		w, ok := want[m.KeyPath]
		if !ok {
			t.Errorf("ping %s: unexpected key path %q", pingID, m.KeyPath)
			continue
		}
		if seen[m.KeyPath] {
			t.Errorf("ping %s: key path %q appears twice", pingID, m.KeyPath)
		}
		seen[m.KeyPath] = true
		if m.ValueKind != w.kind {
			t.Errorf("ping %s %s: kind %q, want %q", pingID, m.KeyPath, m.ValueKind, w.kind)
		}
		if fmt.Sprint(deref(m.Value)) != fmt.Sprint(deref(w.value)) {
			t.Errorf("ping %s %s: value %v, want %v", pingID, m.KeyPath, deref(m.Value), deref(w.value))
		}
		if w.kind != "number" && m.ValueString != w.text {
			t.Errorf("ping %s %s: value_string %q, want %q", pingID, m.KeyPath, m.ValueString, w.text)
		}
		wantFallback := w.value != nil && w.kind == "number" && (*w.value == -1 || *w.value == -2 || *w.value == -1000)
		if m.IsFallback != wantFallback {
			t.Errorf("ping %s %s: is_fallback %v, want %v", pingID, m.KeyPath, m.IsFallback, wantFallback)
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
