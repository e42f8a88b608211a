package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/gateway/gateway"
)

// serveGateway serves h's gateway on a loopback port until the test ends
// and returns its address; Serve must return nil after the drain.
func serveGateway(t *testing.T, h *harness) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testinfra.Background(t, 30*time.Second, "Serve", func(ctx context.Context) error { return h.g.Serve(ctx, ln) })
	return ln.Addr().String()
}

// postOver posts a ping of instance uuid to url/usage_data with c and
// returns the status and the protocol it was answered in.
func postOver(t *testing.T, c *http.Client, url, uuid string) (int, string, error) {
	t.Helper()
	body := []byte(`{"uuid":"` + uuid + `","recorded_at":"2026-01-05 10:00:00 UTC","version":"18.2.0-ee"}`)
	req, err := http.NewRequest(http.MethodPost, url+"/usage_data", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Proto, nil
}

// TestServeTLS: with GATEWAY_TLS_CERT and GATEWAY_TLS_KEY the gateway
// accepts pings over HTTPS, in HTTP/2 and in HTTP/1.1 (each one lands in
// the stream), and answers no plain-HTTP request.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	cert := testinfra.SelfSignedCert(t, "version.gitlab.com", "127.0.0.1")
	h := newHarness(t, func(c *gateway.Config, _ *gateway.Deps) { c.TLSCert, c.TLSKey = cert.CertFile, cert.KeyFile })
	addr := serveGateway(t, h)
	before := h.msgCount(t, streams.Pings)
	for i, c := range []struct {
		http2 bool
		proto string
	}{{true, "HTTP/2.0"}, {false, "HTTP/1.1"}} {
		status, proto, err := postOver(t, cert.Client(c.http2), "https://"+addr, fmt.Sprintf("tls-%d", i))
		if err != nil || status != http.StatusCreated || proto != c.proto {
			t.Errorf("POST over https, http2 %v: %d %s, %v; want 201 %s", c.http2, status, proto, err, c.proto)
		}
	}
	if got := h.msgCount(t, streams.Pings) - before; got != 2 {
		t.Errorf("%d pings in the stream after two posts over https, want 2", got)
	}
	if status, _, err := postOver(t, &http.Client{Timeout: 5 * time.Second}, "http://"+addr, "tls-plain"); err == nil && status == http.StatusCreated {
		t.Error("a plain-HTTP ping was accepted by the HTTPS gateway")
	}
	if got := h.msgCount(t, streams.Pings) - before; got != 2 {
		t.Errorf("%d pings in the stream after the plain-HTTP attempt, want 2", got)
	}
}

// TestServePlain: without the TLS variables the gateway speaks plain
// HTTP/1.1 as before, and a TLS client gets no answer.
func TestServePlain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	addr := serveGateway(t, h)
	status, proto, err := postOver(t, &http.Client{Timeout: 5 * time.Second}, "http://"+addr, "plain-1")
	if err != nil || status != http.StatusCreated || proto != "HTTP/1.1" {
		t.Errorf("POST over http: %d %s, %v; want 201 HTTP/1.1", status, proto, err)
	}
	cert := testinfra.SelfSignedCert(t, "127.0.0.1")
	if _, _, err := postOver(t, cert.Client(false), "https://"+addr, "plain-2"); err == nil {
		t.Error("a TLS client was answered by the plain gateway")
	}
}

// TestTLSConfig: the two variables go together, and a file that cannot be
// read is a configuration error naming it, reported at load time.
func TestTLSConfig(t *testing.T) {
	t.Parallel()
	cert := testinfra.SelfSignedCert(t, "127.0.0.1")
	missing := t.TempDir() + "/missing.key"
	for _, c := range []struct {
		name string
		env  map[string]string
		want string // "" = valid
	}{
		{name: "neither", env: nil},
		{name: "both", env: map[string]string{"GATEWAY_TLS_CERT": cert.CertFile, "GATEWAY_TLS_KEY": cert.KeyFile}},
		{name: "certificate alone", env: map[string]string{"GATEWAY_TLS_CERT": cert.CertFile}, want: "GATEWAY_TLS_CERT and GATEWAY_TLS_KEY go together"},
		{name: "key alone", env: map[string]string{"GATEWAY_TLS_KEY": cert.KeyFile}, want: "GATEWAY_TLS_CERT and GATEWAY_TLS_KEY go together"},
		{name: "unreadable key", env: map[string]string{"GATEWAY_TLS_CERT": cert.CertFile, "GATEWAY_TLS_KEY": missing}, want: missing},
		{name: "certificate as key", env: map[string]string{"GATEWAY_TLS_CERT": cert.CertFile, "GATEWAY_TLS_KEY": cert.CertFile}, want: "rather than a key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := gateway.LoadConfig(context.Background(), envconfig.MapLookuper(c.env))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("LoadConfig: %v", err)
			case c.want == "":
				if want := map[bool]string{true: "https", false: "http"}[c.env != nil]; cfg.Scheme() != want {
					t.Errorf("Scheme = %s, want %s", cfg.Scheme(), want)
				}
			case err == nil || !strings.Contains(err.Error(), c.want):
				t.Errorf("LoadConfig = %v; want an error containing %q", err, c.want)
			}
		})
	}
}
