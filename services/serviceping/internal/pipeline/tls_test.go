package pipeline_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipelinetest"
)

// TestGatewayTLS: in the all-in-one, GATEWAY_TLS_CERT and GATEWAY_TLS_KEY
// turn the gateway to HTTPS as in the standalone one: its URL says https
// and a ping posted over HTTP/2 is accepted.
func TestGatewayTLS(t *testing.T) {
	cert := testinfra.SelfSignedCert(t, "127.0.0.1")
	p := pipelinetest.Start(t, map[string]string{"GATEWAY_TLS_CERT": cert.CertFile, "GATEWAY_TLS_KEY": cert.KeyFile})
	if !strings.HasPrefix(p.GatewayURL, "https://") {
		t.Fatalf("GatewayURL %s, want https://", p.GatewayURL)
	}
	body := `{"uuid":"allinone-tls","recorded_at":"2026-01-05 10:00:00 UTC","version":"18.2.0-ee"}`
	resp, err := cert.Client(true).Post(p.GatewayURL+"/usage_data", "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatalf("POST over https: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Proto != "HTTP/2.0" {
		t.Errorf("POST over https: %d %s, want 201 HTTP/2.0", resp.StatusCode, resp.Proto)
	}
}
