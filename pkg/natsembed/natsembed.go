// Package natsembed runs an in-process NATS server with JetStream on file
// storage: the all-in-one mode's message bus and the tests' real server;
// StartCluster runs several of them as one JetStream cluster.
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"net/url"
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
	// Name is the server's name, unique within a cluster. Default
	// serviceping-embedded.
	Name string
	// Cluster, when set, makes the server a node of a JetStream cluster.
	Cluster *Cluster
}

// Cluster is a node's membership of a JetStream cluster.
type Cluster struct {
	// Name is the cluster's name, the same on every node.
	Name string
	// Listen is host:port for the routes of the other nodes; port 0 picks
	// a free one.
	Listen string
	// Routes are the route addresses (host:port) of other nodes.
	Routes []string
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
	port, err := listenPort(portStr)
	if err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "serviceping-embedded"
	}
	opts := &server.Options{
		ServerName: cfg.Name,
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
	if c := cfg.Cluster; c != nil {
		if err := clusterOptions(opts, *c); err != nil {
			return nil, err
		}
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

func listenPort(s string) (int, error) {
	port, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("natsembed: listen port %q: %w", s, err)
	}
	if port == 0 {
		return server.RANDOM_PORT, nil
	}
	return port, nil
}

// clusterOptions sets the cluster listener and routes of c on opts.
func clusterOptions(opts *server.Options, c Cluster) error {
	host, portStr, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("natsembed: cluster listen address %q: %w", c.Listen, err)
	}
	port, err := listenPort(portStr)
	if err != nil {
		return err
	}
	opts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: port}
	for _, r := range c.Routes {
		opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats-route", Host: r})
	}
	return nil
}
