// Package service is the old name of pkg/lifecycle, kept for the files
// that still import it (services/serviceping/internal/warehouse) until
// their owners move them; new code imports lifecycle.
package service

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/serviceping/serviceping/pkg/lifecycle"
)

// DefaultShutdownTimeout is lifecycle.DefaultShutdownTimeout.
const DefaultShutdownTimeout = lifecycle.DefaultShutdownTimeout

// LoadConfig is lifecycle.LoadConfig.
func LoadConfig(ctx context.Context, cfg any) error { return lifecycle.LoadConfig(ctx, cfg) }

// Serve is lifecycle.HTTPServer{ShutdownTimeout: timeout}.Serve.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, timeout time.Duration) error {
	return lifecycle.HTTPServer{ShutdownTimeout: timeout}.Serve(ctx, ln, h)
}
