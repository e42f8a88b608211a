package lifecycle

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serviceping/serviceping/pkg/testinfra"
)

// TestHTTPServerTLS: with TLS set the server answers HTTPS over HTTP/2 and
// HTTP/1.1, and a plain-HTTP request gets no page; without it the same
// server speaks plain HTTP/1.1.
func TestHTTPServerTLS(t *testing.T) {
	t.Parallel()
	cert := testinfra.SelfSignedCert(t, "127.0.0.1")
	cfg, err := LoadTLS(cert.CertFile, cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	})
	get := func(c *http.Client, url string) (string, error) {
		resp, err := c.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.Proto + " " + string(b), err
	}

	addr, _, _ := serve(t, HTTPServer{TLS: cfg, Logger: slog.New(slog.DiscardHandler)}, hello)
	for _, c := range []struct {
		http2 bool
		want  string
	}{{true, "HTTP/2.0 HTTP/2.0"}, {false, "HTTP/1.1 HTTP/1.1"}} {
		if got, err := get(cert.Client(c.http2), "https://"+addr+"/"); err != nil || got != c.want {
			t.Errorf("https, http2 %v: %q, %v; want %q", c.http2, got, err, c.want)
		}
	}
	if got, err := get(http.DefaultClient, "http://"+addr+"/"); err == nil && strings.Contains(got, "HTTP/1.1 HTTP/1.1") {
		t.Errorf("plain HTTP to the TLS server was answered by the handler: %q", got)
	}
	if cfg.NextProtos != nil {
		t.Errorf("Serve changed the caller's TLS config: NextProtos %v", cfg.NextProtos)
	}

	plain, _, _ := serve(t, HTTPServer{}, hello)
	if got, err := get(http.DefaultClient, "http://"+plain+"/"); err != nil || got != "HTTP/1.1 HTTP/1.1" {
		t.Errorf("plain server: %q, %v", got, err)
	}
}

// TestLoadTLS: a missing file, a key that does not match and a file that
// is not PEM are errors naming the files.
func TestLoadTLS(t *testing.T) {
	t.Parallel()
	a, b := testinfra.SelfSignedCert(t, "a.example"), testinfra.SelfSignedCert(t, "b.example")
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.crt")
	for _, c := range []struct {
		name, cert, key, want string
	}{
		{"missing certificate", missing, a.KeyFile, "no such file"},
		{"missing key", a.CertFile, missing, "no such file"},
		{"key of another certificate", a.CertFile, b.KeyFile, "private key does not match"},
		{"not PEM", junk, a.KeyFile, "failed to find any PEM data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadTLS(c.cert, c.key)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.cert) || !strings.Contains(err.Error(), c.key) {
				t.Errorf("LoadTLS(%s, %s) = %v; want an error naming both files and %q", c.cert, c.key, err, c.want)
			}
		})
	}
	if _, err := LoadTLS(a.CertFile, a.KeyFile); err != nil {
		t.Errorf("matching pair: %v", err)
	}
}
