// Package natsembed runs an in-process NATS server with JetStream on file
// storage: the all-in-one mode's message bus and the tests' real server.
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config of the embedded server.
type Config struct {
	// Listen is host:port; port 0 (or -1) picks a free one. Default 127.0.0.1:4223.
	Listen string
	// StoreDir holds the JetStream file store.
	StoreDir string
	// ReadyTimeout bounds the wait for the server to accept connections.
	ReadyTimeout time.Duration
}

// Start runs the server and waits until it accepts connections. The caller
// owns Shutdown (and WaitForShutdown).
func Start(cfg Config) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("natsembed: store directory is required")
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:4223"
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("natsembed: listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("natsembed: listen port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "serviceping-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		// Pings run to a few hundred KB, but the gateway accepts up to
		// 20 MiB decompressed by default: leave room for that plus the envelope.
		MaxPayload: 32 << 20,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: new server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(cfg.ReadyTimeout) {
		srv.Shutdown()
		return nil, fmt.Errorf("natsembed: server on %s not ready after %s", cfg.Listen, cfg.ReadyTimeout)
	}
	return srv, nil
}
