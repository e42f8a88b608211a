package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sethvargo/go-envconfig"
	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/cli/clitest"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/gateway/gateway"
)

func TestUsageDataAccepted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	gen := generator(t)
	cases := []struct {
		name string
		body []byte
		gz   bool
	}{
		{"docs example", readFile(t, docsExamplePath), false},
		{"docs example gzip", readFile(t, docsExamplePath), true},
		{"generated", gen.JSON(pinggen.Spec{Instance: 1}), false},
		{"generated gzip", gen.JSON(pinggen.Spec{Instance: 2}), true},
		{"generated EE", gen.JSON(pinggen.Spec{Instance: 4, Week: 3}), false},
	}
	var stored uint64
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pingID, want := wantID(t, tc.body)
			before := h.msgCount(t, streams.Pings)
			rec := h.postPing(t, tc.body, tc.gz)
			if rec.Code != http.StatusCreated {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			if got := usageDataID(t, rec); got != want || got <= 0 {
				t.Fatalf("usage_data_id %d, want %d", got, want)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			m := h.lastMsg(t, streams.Pings, streams.SubjectRaw)
			if got := m.Header.Get(jetstream.MsgIDHeader); got != pingID {
				t.Errorf("Nats-Msg-Id %q, want %q", got, pingID)
			}
			var raw servicepingv1.RawPing
			if err := proto.Unmarshal(m.Data, &raw); err != nil {
				t.Fatalf("unmarshal RawPing: %v", err)
			}
			if !bytes.Equal(raw.GetPayload(), tc.body) {
				t.Errorf("payload differs from the body (%d vs %d bytes)", len(raw.GetPayload()), len(tc.body))
			}
			if raw.GetPingId() != pingID || raw.GetUsageDataId() != want || raw.GetSource() != "api" ||
				raw.GetSourceIp() == "" || raw.GetReceivedAt() == nil || raw.GetUuid() == "" || raw.GetRecordedAt() == "" {
				t.Errorf("envelope fields: %+v", &raw)
			}
			after := h.msgCount(t, streams.Pings)
			isNew := after == before+1
			if !isNew && after != before {
				t.Fatalf("stream went from %d to %d messages", before, after)
			}

			// A resubmission (plain or gzip) answers the same id and stores nothing new.
			for _, gz := range []bool{false, true} {
				rec := h.postPing(t, tc.body, gz)
				if rec.Code != http.StatusCreated || usageDataID(t, rec) != want {
					t.Fatalf("resubmission: status %d, body %s", rec.Code, rec.Body)
				}
			}
			if got := h.msgCount(t, streams.Pings); got != after {
				t.Fatalf("resubmission stored a message: %d -> %d", after, got)
			}
			if isNew {
				stored++
			}
		})
	}
	// The docs example is posted twice (plain, then gzip): four distinct pings.
	if got := h.msgCount(t, streams.Pings); got != 4 || stored != 4 {
		t.Fatalf("stream holds %d messages (%d new), want 4", got, stored)
	}
}

// validPing is a minimal ping with the required fields.
func validPing(extra string) []byte {
	return []byte(`{"uuid":"4f9a-77b2","recorded_at":"2026-01-05 10:00:00 UTC","version":"18.2.0-ee"` + extra + `}`)
}

func TestUsageDataRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	gen := generator(t)
	full := gen.JSON(pinggen.Spec{Instance: 7})

	// A gzip bomb: 1 GiB of zeros, about 1 MB compressed, generated streaming.
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestSpeed)
	if _, err := io.Copy(zw, &zeroReader{n: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	_ = zw.Close()
	if bomb.Len() > 2<<20 {
		t.Fatalf("bomb is %d bytes compressed; the test needs it under the 2 MiB wire limit", bomb.Len())
	}
	// Incompressible bytes over the wire limit once gzipped.
	noise := make([]byte, 2<<20+4096)
	_, _ = rand.Read(noise)
	bigGzip := gateway.GzipBytes(t, noise)
	// Valid JSON that decompresses past 20 MiB but is small on the wire.
	padded := validPing(`,"pad":"` + strings.Repeat("a", 21<<20) + `"`)
	deep := validPing(`,"deep":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40))
	leaves := validPing(`,"many":[` + strings.TrimSuffix(strings.Repeat("0,", 100_001), ",") + `]`)
	gz := map[string]string{"Content-Encoding": "gzip"}

	cases := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"malformed json", req{path: "/usage_data", body: []byte(`{"uuid": }`)}, 400, "invalid_json"},
		{"truncated json", req{path: "/usage_data", body: full[:len(full)/2]}, 400, "invalid_json"},
		{"empty body", req{path: "/usage_data", body: []byte{}}, 400, "empty_body"},
		{"root array", req{path: "/usage_data", body: []byte(`[{"uuid":"a"}]`)}, 400, "invalid_root"},
		{"root string", req{path: "/usage_data", body: []byte(`"ping"`)}, 400, "invalid_root"},
		{"root number", req{path: "/usage_data", body: []byte(`42`)}, 400, "invalid_root"},
		{"root null", req{path: "/usage_data", body: []byte(`null`)}, 400, "invalid_root"},
		{"missing uuid", req{path: "/usage_data", body: []byte(`{"recorded_at":"2026-01-05 10:00:00 UTC","version":"1"}`)}, 400, "missing_field"},
		{"missing recorded_at", req{path: "/usage_data", body: []byte(`{"uuid":"a","version":"1"}`)}, 400, "missing_field"},
		{"missing version", req{path: "/usage_data", body: []byte(`{"uuid":"a","recorded_at":"2026-01-05 10:00:00 UTC"}`)}, 400, "missing_field"},
		{"uuid not a string", req{path: "/usage_data", body: []byte(`{"uuid":12,"recorded_at":"2026-01-05 10:00:00 UTC","version":"1"}`)}, 400, "invalid_field"},
		{"uuid null", req{path: "/usage_data", body: []byte(`{"uuid":null,"recorded_at":"2026-01-05 10:00:00 UTC","version":"1"}`)}, 400, "invalid_field"},
		{"recorded_at not a string", req{path: "/usage_data", body: []byte(`{"uuid":"a","recorded_at":1767607200,"version":"1"}`)}, 400, "invalid_field"},
		{"version not a string", req{path: "/usage_data", body: []byte(`{"uuid":"a","recorded_at":"2026-01-05 10:00:00 UTC","version":18}`)}, 400, "invalid_field"},
		{"uuid bad chars", req{path: "/usage_data", body: []byte(`{"uuid":"ab/../c d","recorded_at":"2026-01-05 10:00:00 UTC","version":"1"}`)}, 400, "invalid_field"},
		{"uuid empty", req{path: "/usage_data", body: []byte(`{"uuid":"","recorded_at":"2026-01-05 10:00:00 UTC","version":"1"}`)}, 400, "invalid_field"},
		{"uuid too long", req{path: "/usage_data", body: []byte(`{"uuid":"` + strings.Repeat("a", 129) + `","recorded_at":"2026-01-05 10:00:00 UTC","version":"1"}`)}, 400, "invalid_field"},
		{"recorded_at unparseable", req{path: "/usage_data", body: []byte(`{"uuid":"a","recorded_at":"last tuesday","version":"1"}`)}, 400, "invalid_field"},
		{"version empty", req{path: "/usage_data", body: []byte(`{"uuid":"a","recorded_at":"2026-01-05 10:00:00 UTC","version":""}`)}, 400, "invalid_field"},
		{"version too long", req{path: "/usage_data", body: []byte(`{"uuid":"a","recorded_at":"2026-01-05 10:00:00 UTC","version":"` + strings.Repeat("1", 65) + `"}`)}, 400, "invalid_field"},
		{"counts is an array", req{path: "/usage_data", body: validPing(`,"counts":[1,2]`)}, 400, "invalid_section"},
		{"counts_weekly is a number", req{path: "/usage_data", body: validPing(`,"counts_weekly":3`)}, 400, "invalid_section"},
		{"usage_activity_by_stage_monthly is a string", req{path: "/usage_data", body: validPing(`,"usage_activity_by_stage_monthly":"x"`)}, 400, "invalid_section"},
		{"settings is true", req{path: "/usage_data", body: validPing(`,"settings":true`)}, 400, "invalid_section"},
		{"duplicate names", req{path: "/usage_data", body: validPing(`,"counts":{"boards":1,"boards":2}`)}, 400, "invalid_json"},
		{"duplicate uuid", req{path: "/usage_data", body: validPing(`,"uuid":"other"`)}, 400, "invalid_json"},
		{"invalid utf-8", req{path: "/usage_data", body: validPing(`,"hostname":"h` + "\xff\xfe" + `"`)}, 400, "invalid_json"},
		{"lone surrogate escape", req{path: "/usage_data", body: validPing(`,"hostname":"\ud800"`)}, 400, "invalid_json"},
		{"number out of float64 range", req{path: "/usage_data", body: validPing(`,"counts":{"boards":1e400}`)}, 400, "number_out_of_range"},
		{"NaN literal", req{path: "/usage_data", body: validPing(`,"x":NaN`)}, 400, "invalid_json"},
		{"trailing garbage", req{path: "/usage_data", body: append(validPing(""), " garbage"...)}, 400, "invalid_json"},
		{"second object", req{path: "/usage_data", body: append(validPing(""), `{}`...)}, 400, "invalid_json"},
		{"excessive nesting", req{path: "/usage_data", body: deep}, 400, "too_deep"},
		{"too many leaves", req{path: "/usage_data", body: leaves}, 400, "too_many_leaves"},
		{"invalid gzip", req{path: "/usage_data", body: validPing(""), header: gz}, 400, "invalid_gzip"},
		{"truncated gzip", req{path: "/usage_data", body: gateway.GzipBytes(t, full)[:2000], header: gz}, 400, "invalid_gzip"},
		{"gzip bomb", req{path: "/usage_data", body: bomb.Bytes(), header: gz}, 413, "payload_too_large"},
		{"compressed over size", req{path: "/usage_data", body: bigGzip, header: gz}, 413, "payload_too_large"},
		{"plain over size", req{path: "/usage_data", body: append(validPing(`,"pad":"`+strings.Repeat("b", 2<<20)), `"}`...)}, 413, "payload_too_large"},
		{"decompressed over size", req{path: "/usage_data", body: gateway.GzipBytes(t, padded), header: gz}, 413, "payload_too_large"},
		{"text/plain", req{path: "/usage_data", body: validPing(""), header: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported_media_type"},
		{"form urlencoded", req{path: "/usage_data", body: validPing(""), header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "unsupported_media_type"},
		{"brotli", req{path: "/usage_data", body: validPing(""), header: map[string]string{"Content-Encoding": "br"}}, 415, "unsupported_encoding"},
		{"GET /usage_data", req{method: http.MethodGet, path: "/usage_data"}, 405, "method_not_allowed"},
		{"PUT /usage_data", req{method: http.MethodPut, path: "/usage_data", body: validPing("")}, 405, "method_not_allowed"},
		{"unknown route", req{path: "/api/v4/usage_data", body: validPing("")}, 404, "not_found"},
		{"error report without uuid", req{path: "/usage_ping_errors", body: []byte(`{"error":{"message":"boom"}}`)}, 400, "missing_field"},
		{"error report not wrapped", req{path: "/usage_ping_errors", body: []byte(`{"uuid":"a","message":"boom"}`)}, 400, "missing_field"},
		{"error report elapsed is text", req{path: "/usage_ping_errors", body: []byte(`{"error":{"uuid":"a","elapsed":"slow"}}`)}, 400, "invalid_field"},
		{"error report is an array", req{path: "/usage_ping_errors", body: []byte(`[]`)}, 400, "invalid_root"},
		{"error report duplicate", req{path: "/usage_ping_errors", body: []byte(`{"error":{"uuid":"a","uuid":"b"}}`)}, 400, "invalid_json"},
		{"metadata metrics not an array", req{path: "/usage_ping_metadata", body: []byte(`{"metadata":{"uuid":"a","metrics":{}}}`)}, 400, "invalid_field"},
		{"metadata without uuid", req{path: "/usage_ping_metadata", body: []byte(`{"metadata":{"metrics":[]}}`)}, 400, "missing_field"},
		{"metadata text/plain", req{path: "/usage_ping_metadata", body: []byte(`{"metadata":{"uuid":"a","metrics":[]}}`), header: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported_media_type"},
		{"GET /usage_ping_errors", req{method: http.MethodGet, path: "/usage_ping_errors"}, 405, "method_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do(t, tc.r)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.status, truncate(rec.Body.String()))
			}
			e := decodeError(t, rec)
			if e.Error != tc.code || e.Message == "" {
				t.Fatalf("error %q message %q, want code %q", e.Error, e.Message, tc.code)
			}
			for _, leak := range []string{"jsontext", "nats:", "gzip:", "flate", "runtime", "panic"} {
				if strings.Contains(e.Message, leak) {
					t.Errorf("message leaks internals (%q): %s", leak, e.Message)
				}
			}
			if tc.status == 405 && rec.Header().Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
			t.Logf("%d %s: %s", rec.Code, e.Error, e.Message)
		})
	}
	if n := h.msgCount(t, streams.Pings); n != 0 {
		t.Fatalf("rejected requests published %d pings", n)
	}
	if n := h.msgCount(t, streams.Reports); n != 0 {
		t.Fatalf("rejected requests published %d reports", n)
	}
	// The process is unharmed.
	rec := h.postPing(t, full, true)
	if rec.Code != http.StatusCreated {
		t.Fatalf("valid ping after the rejections: %d %s", rec.Code, rec.Body)
	}
	if n := h.msgCount(t, streams.Pings); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func TestAcceptedVariants(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	cases := []struct {
		name   string
		body   []byte
		header map[string]string
	}{
		{"no content type", validPing(`,"n":1`), map[string]string{"Content-Type": ""}},
		{"json with charset", validPing(`,"n":2`), map[string]string{"Content-Type": "application/json; charset=utf-8"}},
		{"vendor json", validPing(`,"n":3`), map[string]string{"Content-Type": "application/vnd.gitlab+json"}},
		{"null sections", validPing(`,"counts":null,"settings":null,"license":null`), nil},
		{"empty sections", validPing(`,"counts":{},"usage_activity_by_stage":{},"topology":{"nodes":[]}`), nil},
		{"rfc3339 recorded_at", []byte(`{"uuid":"b","recorded_at":"2026-01-05T10:00:00.123Z","version":"18.0.0"}`), nil},
		{"tiny number underflows to zero", validPing(`,"n":1e-400`), nil},
		{"surrogate pair", validPing(`,"s":"\ud83d\ude00"`), nil},
		{"gzip magic without header", gateway.GzipBytes(t, validPing(`,"n":4`)), nil},
		{"x-gzip", gateway.GzipBytes(t, validPing(`,"n":5`)), map[string]string{"Content-Encoding": "x-gzip"}},
	}
	for _, tc := range cases {
		rec := h.do(t, req{path: "/usage_data", body: tc.body, header: tc.header})
		if rec.Code != http.StatusCreated {
			t.Errorf("%s: status %d, body %s", tc.name, rec.Code, rec.Body)
		}
	}
}

func TestJetStreamOutageAndRecovery(t *testing.T) {
	t.Parallel()
	addr, dir := clitest.ClosedAddr(t), t.TempDir()
	srv := startNATS(t, addr, dir)
	nc := connect(t, "nats://"+addr)
	// A long publish timeout: a 503 that waited for it instead of failing
	// fast would take 10s, far beyond the 3s bound below even on a loaded
	// machine.
	h := newHarnessConn(t, nc, func(c *gateway.Config, _ *gateway.Deps) {
		c.RetryAfter = 7 * time.Second
		c.PublishTimeout = 10 * time.Second
	})

	first := validPing(`,"n":"first"`)
	if rec := h.postPing(t, first, false); rec.Code != http.StatusCreated {
		t.Fatalf("before the outage: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do(t, req{method: http.MethodGet, path: "/readyz"}); rec.Code != http.StatusOK {
		t.Fatalf("readyz before the outage: %d %s", rec.Code, rec.Body)
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	testinfra.Eventually(t, 10*time.Second, "readyz to fail", func() error {
		return wantCode(h.do(t, req{method: http.MethodGet, path: "/readyz"}), http.StatusServiceUnavailable)
	})
	second := []byte(`{"uuid":"4f9a-77b2","recorded_at":"2026-01-12 10:00:00 UTC","version":"18.2.0-ee"}`)
	for range 5 {
		start := time.Now()
		rec := h.postPing(t, second, true)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("during the outage: status %d, want 503; body %s", rec.Code, rec.Body)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("503 took %s; it must fail fast, not wait for the 10s publish timeout", took)
		}
		if got := rec.Header().Get("Retry-After"); got != "7" {
			t.Errorf("Retry-After %q, want 7", got)
		}
		if e := decodeError(t, rec); e.Error != "unavailable" {
			t.Errorf("error %+v", e)
		}
	}
	// Report endpoints fail the same way.
	if rec := h.do(t, req{path: "/usage_ping_errors", body: []byte(`{"error":{"uuid":"a"}}`)}); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("error report during the outage: %d", rec.Code)
	}

	startNATS(t, addr, dir)
	var codes []int
	testinfra.Eventually(t, 30*time.Second, "a 201 after NATS came back", func() error {
		rec := h.postPing(t, second, false)
		if rec.Code != http.StatusCreated && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("while recovering: unexpected status %d %s", rec.Code, rec.Body)
		}
		codes = append(codes, rec.Code)
		return wantCode(rec, http.StatusCreated)
	})
	t.Logf("recovered after %d attempts", len(codes))
	testinfra.Eventually(t, 10*time.Second, "readyz to recover", func() error {
		return wantCode(h.do(t, req{method: http.MethodGet, path: "/readyz"}), http.StatusOK)
	})
	if n := h.msgCount(t, streams.Pings); n != 2 {
		t.Fatalf("stream holds %d messages after recovery, want 2 (the first survived the restart)", n)
	}
}

func TestReports(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)

	errBody := []byte(`{"error":{"time":"2026-01-05 10:00:05 UTC","uuid":"02333324-1cd7-4c3b-a45b-a4993f05fb1d","hostname":"127.0.0.1","version":"14.7.0-pre","elapsed":0.006946,"message":"PG::UndefinedColumn: ERROR:  column \"non_existent_attribute\" does not exist at lib/foo.rb:1"}}`)
	metaBody := []byte(`{"metadata":{"uuid":"0000000-0000-0000-0000-000000000000","metrics":[{"name":"version","time_elapsed":1.1811964213848114e-05},{"name":"counts.clusters_platforms_eks","time_elapsed":0.05638605775311589},{"name":"counts.boards","time_elapsed":1.5,"error":"timeout"}]}}`)

	for _, gz := range []bool{false, true} {
		// Error report.
		r := req{path: "/usage_ping_errors", body: errBody, header: map[string]string{}}
		if gz {
			r.body, r.header["Content-Encoding"] = gateway.GzipBytes(t, errBody), "gzip"
		}
		rec := h.do(t, r)
		if rec.Code != http.StatusCreated || strings.TrimSpace(rec.Body.String()) != "{}" {
			t.Fatalf("error report: %d %s", rec.Code, rec.Body)
		}
		m := h.lastMsg(t, streams.Reports, streams.SubjectErrors)
		sum := sha256.Sum256(errBody)
		if got := m.Header.Get(jetstream.MsgIDHeader); got != hex.EncodeToString(sum[:]) {
			t.Errorf("error report Nats-Msg-Id %q", got)
		}
		var er servicepingv1.ErrorReport
		if err := proto.Unmarshal(m.Data, &er); err != nil {
			t.Fatal(err)
		}
		if er.GetUuid() != "02333324-1cd7-4c3b-a45b-a4993f05fb1d" || er.GetHostname() != "127.0.0.1" || er.GetVersion() != "14.7.0-pre" ||
			er.GetElapsed() != 0.006946 || er.GetTime() != "2026-01-05 10:00:05 UTC" || !strings.HasPrefix(er.GetMessage(), "PG::UndefinedColumn") ||
			!bytes.Equal(er.GetRaw(), errBody) || er.GetReportId() != hex.EncodeToString(sum[:]) || er.GetReceivedAt() == nil {
			t.Errorf("error report envelope: %+v", &er)
		}

		// Metadata.
		r = req{path: "/usage_ping_metadata", body: metaBody, header: map[string]string{}}
		if gz {
			r.body, r.header["Content-Encoding"] = gateway.GzipBytes(t, metaBody), "gzip"
		}
		rec = h.do(t, r)
		if rec.Code != http.StatusCreated {
			t.Fatalf("metadata: %d %s", rec.Code, rec.Body)
		}
		m = h.lastMsg(t, streams.Reports, streams.SubjectMetadata)
		var mt servicepingv1.MetricTimings
		if err := proto.Unmarshal(m.Data, &mt); err != nil {
			t.Fatal(err)
		}
		if mt.GetUuid() != "0000000-0000-0000-0000-000000000000" || len(mt.GetMetrics()) != 3 ||
			mt.GetMetrics()[1].GetName() != "counts.clusters_platforms_eks" || mt.GetMetrics()[1].GetTimeElapsed() != 0.05638605775311589 ||
			mt.GetMetrics()[2].GetError() != "timeout" || !bytes.Equal(mt.GetRaw(), metaBody) {
			t.Errorf("metadata envelope: %+v", &mt)
		}
	}
	// Resubmissions (the gzip pass) were de-duplicated by report_id.
	if n := h.msgCount(t, streams.Reports); n != 2 {
		t.Fatalf("REPORTS holds %d messages, want 2", n)
	}
}

func TestUploadForm(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)

	rec := h.do(t, req{method: http.MethodGet, path: "/usage_data/new"})
	page := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("form: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{`action="/usage_data/upload"`, `enctype="multipart/form-data"`, `name="file"`, "Choose file", "Upload"} {
		if !strings.Contains(page, want) {
			t.Errorf("form page lacks %s", want)
		}
	}

	gen := generator(t)
	docs := readFile(t, docsExamplePath)
	generated := gen.JSON(pinggen.Spec{Instance: 11})
	for _, tc := range []struct {
		name    string
		content []byte
		json    []byte
		accept  string
	}{
		{"plain file", docs, docs, ""},
		{"gzip file", gateway.GzipBytes(t, generated), generated, ""},
		{"json answer", generated, generated, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := gateway.MultipartBody(t, "file", "service_ping.json", tc.content)
			rec := h.do(t, req{path: "/usage_data/upload", body: body, header: map[string]string{"Content-Type": ct, "Accept": tc.accept}})
			if rec.Code != http.StatusCreated {
				t.Fatalf("upload: %d %s", rec.Code, rec.Body)
			}
			pingID, want := wantID(t, tc.json)
			if tc.accept != "" {
				if got := usageDataID(t, rec); got != want {
					t.Fatalf("usage_data_id %d, want %d", got, want)
				}
			} else if !strings.Contains(rec.Body.String(), fmt.Sprintf(`<code id="usage_data_id">%d</code>`, want)) {
				t.Fatalf("page does not show usage_data_id %d: %s", want, rec.Body)
			}
			m := h.lastMsg(t, streams.Pings, streams.SubjectRaw)
			var raw servicepingv1.RawPing
			if err := proto.Unmarshal(m.Data, &raw); err != nil {
				t.Fatal(err)
			}
			if raw.GetPingId() != pingID || raw.GetSource() != "upload" || !bytes.Equal(raw.GetPayload(), tc.json) {
				t.Fatalf("envelope: id %s source %s", raw.GetPingId(), raw.GetSource())
			}
		})
	}

	// Errors are HTML pages with the same status codes (JSON on request).
	noFile, ct := gateway.MultipartBody(t, "other", "x.json", docs)
	bad, ctBad := gateway.MultipartBody(t, "file", "x.json", []byte(`{"uuid":"a"`))
	for _, tc := range []struct {
		name, ct, accept string
		body             []byte
		status           int
	}{
		{"no file", ct, "", noFile, 400},
		{"invalid json", ctBad, "", bad, 400},
		{"invalid json, json answer", ctBad, "application/json", bad, 400},
		{"not multipart", "application/json", "", docs, 415},
	} {
		rec := h.do(t, req{path: "/usage_data/upload", body: tc.body, header: map[string]string{"Content-Type": tc.ct, "Accept": tc.accept}})
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, rec.Code, tc.status)
		}
		isJSON := strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json")
		if isJSON != (tc.accept != "") {
			t.Errorf("%s: Content-Type %s", tc.name, rec.Header().Get("Content-Type"))
		}
	}
	if rec := h.do(t, req{method: http.MethodGet, path: "/usage_data/upload"}); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET upload: %d", rec.Code)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	frozen := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	t.Run("per uuid", func(t *testing.T) {
		h := newHarness(t, func(c *gateway.Config, d *gateway.Deps) {
			c.RatePerUUID, c.BurstPerUUID = 0.5, 2
			d.Now = func() time.Time { return frozen }
		})
		for i, want := range []int{201, 201, 429} {
			rec := h.postPing(t, validPing(fmt.Sprintf(`,"n":%d`, i)), false)
			if rec.Code != want {
				t.Fatalf("request %d: %d, want %d", i, rec.Code, want)
			}
			if want == 429 {
				if rec.Header().Get("Retry-After") != "2" || decodeError(t, rec).Error != "rate_limited" {
					t.Fatalf("429 answer: %v %s", rec.Header(), rec.Body)
				}
			}
		}
		// Another instance is not affected.
		other := []byte(`{"uuid":"other-instance","recorded_at":"2026-01-05 10:00:00 UTC","version":"18.0.0"}`)
		if rec := h.postPing(t, other, false); rec.Code != http.StatusCreated {
			t.Fatalf("other uuid: %d", rec.Code)
		}
	})
	t.Run("per ip", func(t *testing.T) {
		h := newHarness(t, func(c *gateway.Config, d *gateway.Deps) {
			c.RatePerIP, c.BurstPerIP = 1, 1
			d.Now = func() time.Time { return frozen }
		})
		if rec := h.postPing(t, validPing(""), false); rec.Code != http.StatusCreated {
			t.Fatalf("first: %d", rec.Code)
		}
		rec := h.postPing(t, validPing(""), false)
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("second: %d %v", rec.Code, rec.Header())
		}
	})
}

func TestOverloadAnswers503(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gateway.Config, _ *gateway.Deps) {
		c.MaxInflight, c.InflightWait, c.RetryAfter = 1, 20*time.Millisecond, 3*time.Second
	})
	// A client that sends its body slowly holds the only slot.
	pr, pw := io.Pipe()
	slow := httptest.NewRequest(http.MethodPost, "/usage_data", pr)
	slow.Header.Set("Content-Type", "application/json")
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.h.ServeHTTP(rec, slow)
		done <- rec.Code
	}()
	testinfra.Eventually(t, 5*time.Second, "the slow request to hold the slot", func() error {
		if n := gaugeValue(t, h, "serviceping_gateway_inflight_requests"); n != 1 {
			return fmt.Errorf("%v requests in flight", n)
		}
		return nil
	})
	rec := h.postPing(t, validPing(""), false)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "3" || decodeError(t, rec).Error != "overloaded" {
		t.Fatalf("saturated: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	_, _ = pw.Write(validPing(`,"slow":true`))
	_ = pw.Close()
	if code := <-done; code != http.StatusCreated {
		t.Fatalf("slow request: %d", code)
	}
	if rec := h.postPing(t, validPing(""), false); rec.Code != http.StatusCreated {
		t.Fatalf("after the slot freed: %d", rec.Code)
	}
}

func gaugeValue(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

func TestProbesAndMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	if rec := h.do(t, req{method: http.MethodGet, path: "/healthz"}); rec.Code != http.StatusOK {
		t.Fatalf("healthz: %d", rec.Code)
	}
	if rec := h.do(t, req{method: http.MethodGet, path: "/readyz"}); rec.Code != http.StatusOK {
		t.Fatalf("readyz: %d %s", rec.Code, rec.Body)
	}
	h.postPing(t, validPing(""), false)
	h.postPing(t, []byte(`[]`), false)
	rec := h.do(t, req{method: http.MethodGet, path: "/metrics"})
	if rec.Code != http.StatusOK {
		t.Fatalf("metrics: %d", rec.Code)
	}
	for _, want := range []string{
		`serviceping_gateway_requests_total{code="201",route="/usage_data"} 1`,
		`serviceping_gateway_requests_total{code="400",route="/usage_data"} 1`,
		`serviceping_gateway_rejections_total{reason="invalid_root"} 1`,
		`serviceping_gateway_request_duration_seconds_bucket`,
		`serviceping_gateway_payload_bytes_bucket`,
		`serviceping_gateway_publish_duration_seconds_bucket`,
		`serviceping_gateway_inflight_requests 0`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	var cfg gateway.Config
	if err := envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &cfg, Lookuper: envconfig.MapLookuper(nil)}); err != nil {
		t.Fatal(err)
	}
	loaded, loadErr := gateway.LoadConfig(context.Background(), envconfig.MapLookuper(nil))
	if loadErr != nil {
		t.Fatalf("defaults rejected by LoadConfig: %v", loadErr)
	}
	if cfg != loaded {
		t.Fatalf("env defaults differ from LoadConfig's:\n%+v\n%+v", cfg, loaded)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	bad := cfg
	bad.Listen, bad.MaxBodyBytes, bad.MaxInflight, bad.RetryAfter = "nope", 0, 0, 0
	testinfra.ErrorSays(t, "Validate of an invalid config", bad.Validate(), "GATEWAY_LISTEN", "GATEWAY_MAX_BODY_BYTES", "GATEWAY_MAX_INFLIGHT", "GATEWAY_RETRY_AFTER")
	if _, err := gateway.New(cfg, gateway.Deps{}); err == nil {
		t.Fatal("New without JetStream succeeded")
	}
}
