package lifecycle

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// DefaultShutdownTimeout bounds a graceful HTTP stop unless configured.
const DefaultShutdownTimeout = 10 * time.Second

// HTTPServer is how a serviceping process serves HTTP: the bounds on each
// connection and the graceful drain when the process stops. A zero bound is
// net/http's default (none; 1 MiB of headers), except ReadHeaderTimeout
// (10s: every server bounds a slow client's headers) and ShutdownTimeout
// (DefaultShutdownTimeout).
type HTTPServer struct {
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end
	// of its answer.
	WriteTimeout time.Duration
	// IdleTimeout bounds a kept-alive connection's wait for its next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's headers (431 beyond).
	MaxHeaderBytes int
	// ShutdownTimeout bounds the drain of the requests in flight when the
	// server stops.
	ShutdownTimeout time.Duration
	// Logger receives the server's own errors (a failed TLS handshake, a
	// handler's panic) at warn level; nil: net/http's default logger.
	Logger *slog.Logger
	// TLS, when set, makes Serve answer HTTPS only, offering HTTP/2 and
	// HTTP/1.1 (ALPN); nil: plain HTTP/1.1. LoadTLS builds one from files.
	TLS *tls.Config
}

// LoadTLS is the server TLS configuration of a PEM certificate (chain)
// file and its key file: TLS 1.2 at least. It fails when either file
// cannot be read or they do not hold a matching pair.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// SmallHTTP is the HTTPServer of an endpoint whose requests and answers are
// small and quick: /metrics and the health probes, the collector's event
// tracking.
func SmallHTTP(log *slog.Logger) HTTPServer {
	return HTTPServer{
		ReadTimeout:    10 * time.Second,
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		Logger:         log,
	}
}

// server is the http.Server of s for h; a request's context carries
// ctx's values but not its end, so the requests in flight finish during
// the drain.
func (s HTTPServer) server(ctx context.Context, h http.Handler) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		ReadTimeout:       s.ReadTimeout,
		WriteTimeout:      s.WriteTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    s.MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if srv.ReadHeaderTimeout == 0 {
		srv.ReadHeaderTimeout = 10 * time.Second
	}
	if s.Logger != nil {
		srv.ErrorLog = slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)
	}
	if s.TLS != nil {
		srv.TLSConfig = s.TLS.Clone() // ServeTLS adds "h2" and "http/1.1" to its NextProtos
	}
	return srv
}

// Serve answers on ln with h until ctx ends, then stops accepting and waits
// for the requests in flight, at most ShutdownTimeout; past it, it closes
// the connections left and returns an error. It returns an error too when
// the server fails before ctx ends. ln is closed either way.
func (s HTTPServer) Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := s.server(ctx, h)
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	timeout := s.ShutdownTimeout
	if timeout == 0 {
		timeout = DefaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("drain http on %s within %s: %w", ln.Addr(), timeout, err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	}
	return nil
}
