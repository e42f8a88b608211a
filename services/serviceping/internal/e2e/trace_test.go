package e2e_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/serviceping/internal/client"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipelinetest"
)

// otlpReceiver is an OTLP/HTTP trace endpoint (the protocol's protobuf
// encoding, as the OpenTelemetry Collector serves it on /v1/traces) that
// keeps the spans it receives.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces with application/x-protobuf", http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			o.spans = append(o.spans, ss.GetSpans()...)
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (o *otlpReceiver) named(name string) []*tracepb.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range o.spans {
		if s.GetName() == name {
			out = append(out, s)
		}
	}
	return out
}

// TestTraceAcrossStages: with OTEL_EXPORTER_OTLP_ENDPOINT set, one ping's
// trace runs from the gateway's request span to the enricher's span (its
// child, through the raw message's headers) and is linked from the
// loader's batch span (through the enriched message's headers).
func TestTraceAcrossStages(t *testing.T) {
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100") // ms: export promptly
	p := pipelinetest.Start(t, nil)
	g, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	s := client.Sender{HTTP: &http.Client{Timeout: 30 * time.Second}, GatewayURL: p.GatewayURL}
	if resp, err := s.Send(context.Background(), g.JSON(pinggen.Spec{Instance: 9001, Week: 1}), false); err != nil || resp.Status != http.StatusCreated {
		t.Fatalf("post: %v %+v", err, resp)
	}
	testinfra.Eventually(t, time.Minute, "the ping's trace through the three stages", func() error {
		gws := recv.named("POST /usage_data")
		if len(gws) != 1 {
			return fmt.Errorf("%d gateway spans", len(gws))
		}
		gw := gws[0]
		var enrich *tracepb.Span
		for _, e := range recv.named("enrich") {
			if bytes.Equal(e.GetTraceId(), gw.GetTraceId()) && bytes.Equal(e.GetParentSpanId(), gw.GetSpanId()) {
				enrich = e
			}
		}
		if enrich == nil {
			return fmt.Errorf("no enrich span child of the gateway's span (trace %s)", hex.EncodeToString(gw.GetTraceId()))
		}
		for _, l := range recv.named("load PINGS batch") {
			for _, link := range l.GetLinks() {
				if bytes.Equal(link.GetTraceId(), gw.GetTraceId()) && bytes.Equal(link.GetSpanId(), enrich.GetSpanId()) {
					return nil
				}
			}
		}
		return fmt.Errorf("no loader batch span links to the enrich span %s", hex.EncodeToString(enrich.GetSpanId()))
	})
}
