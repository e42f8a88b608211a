package lifecycle

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/testinfra"
)

func TestHTTPServerBounds(t *testing.T) {
	t.Parallel()
	type bounds struct {
		header, read, write, idle time.Duration
		maxHeaderBytes            int
	}
	log := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		name string
		s    HTTPServer
		want bounds
		logs bool
	}{
		{name: "zero: headers bounded, the rest net/http's", want: bounds{header: 10 * time.Second}},
		{name: "small endpoint", s: SmallHTTP(log), logs: true, want: bounds{
			header: 10 * time.Second, read: 10 * time.Second, write: 30 * time.Second, idle: 2 * time.Minute, maxHeaderBytes: 64 << 10,
		}},
		{name: "every bound set", s: HTTPServer{
			ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second,
			IdleTimeout: 4 * time.Second, MaxHeaderBytes: 5,
		}, want: bounds{header: time.Second, read: 2 * time.Second, write: 3 * time.Second, idle: 4 * time.Second, maxHeaderBytes: 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := c.s.server(context.Background(), http.NotFoundHandler())
			got := bounds{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes}
			if got != c.want {
				t.Errorf("bounds %+v, want %+v", got, c.want)
			}
			if (srv.ErrorLog != nil) != c.logs {
				t.Errorf("error log set: %v, want %v", srv.ErrorLog != nil, c.logs)
			}
		})
	}
}

// serve runs s on a loopback port until the returned cancel; done
// receives Serve's result.
func serve(t *testing.T, s HTTPServer, h http.Handler) (addr string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln, h) }()
	t.Cleanup(cancel)
	return ln.Addr().String(), cancel, errc
}

// TestHTTPServerDrains: once ctx ends the server takes no new connection
// but finishes the request in flight, then Serve returns nil.
func TestHTTPServerDrains(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	addr, cancel, done := serve(t, HTTPServer{ShutdownTimeout: 10 * time.Second}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			answer <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answer <- string(b)
	}()
	<-entered
	cancel()
	testinfra.Eventually(t, 10*time.Second, "the listener closed", func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return nil
		}
		c.Close()
		return errors.New("still accepting connections after ctx ended")
	})
	select {
	case err := <-done:
		t.Fatalf("Serve returned before the request in flight finished: %v", err)
	default:
	}
	close(release)
	if got := <-answer; got != "finished" {
		t.Fatalf("request in flight: %q, want finished", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestHTTPServerDrainTimeout: a request that outlasts ShutdownTimeout is
// cut off and Serve says so.
func TestHTTPServerDrainTimeout(t *testing.T) {
	t.Parallel()
	entered, stuck := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	addr, cancel, done := serve(t, HTTPServer{ShutdownTimeout: 100 * time.Millisecond}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-stuck
	}))
	clientErr := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		clientErr <- err
	}()
	<-entered
	start := time.Now()
	cancel()
	err := <-done
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "drain") {
		t.Fatalf("Serve = %v, want the drain's deadline exceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Serve returned %s after ctx ended, want about 100ms", took)
	}
	if err := <-clientErr; err == nil {
		t.Error("the cut-off request got an answer")
	}
}

// TestHTTPServerRejectsSlowAndLargeHeaders: a client that does not finish
// its headers within ReadHeaderTimeout is disconnected, headers beyond
// MaxHeaderBytes are answered 431.
func TestHTTPServerRejectsSlowAndLargeHeaders(t *testing.T) {
	t.Parallel()
	addr, _, _ := serve(t, HTTPServer{ReadHeaderTimeout: 100 * time.Millisecond, MaxHeaderBytes: 1 << 10}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil { // headers never finished
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("slow client: read %d bytes, err %v; want the connection closed", n, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("slow client disconnected after %s, want about 100ms", took)
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	req.Header.Set("X-Large", strings.Repeat("x", 8<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("large headers: %d, want 431", resp.StatusCode)
	}
}
