package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tlsSrv := httptest.NewTLSServer(mux)
	t.Cleanup(tlsSrv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()

	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"2xx", []string{srv.URL + "/healthz"}, 0, ""},
		{"503", []string{srv.URL + "/readyz"}, 1, "503 Service Unavailable"},
		{"404", []string{srv.URL + "/nope"}, 1, "404 Not Found"},
		{"refused", []string{refused}, 1, "connection refused"},
		{"https, certificate checked", []string{tlsSrv.URL + "/healthz"}, 1, "certificate"},
		{"https, -insecure", []string{"-insecure", tlsSrv.URL + "/healthz"}, 0, ""},
		{"no URL", nil, 2, "usage"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			if got := run(context.Background(), c.args, &stderr); got != c.code {
				t.Errorf("exit %d, want %d (stderr %q)", got, c.code, stderr.String())
			}
			if c.stderr == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), c.stderr) {
				t.Errorf("stderr %q, want %q", stderr.String(), c.stderr)
			}
		})
	}
}
