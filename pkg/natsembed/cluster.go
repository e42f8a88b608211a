package natsembed

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// LocalCluster is a JetStream cluster of embedded servers in this process,
// each node on free loopback ports with its own file store: the cluster
// tests' NATS, and a way to see the distributed mode without machines.
// Its methods are not safe for concurrent use.
type LocalCluster struct {
	nodes        []Config
	servers      []*server.Server // nil while a node is stopped
	readyTimeout time.Duration
}

// StartCluster runs n nodes of the cluster named name, storing under
// dir/<node name>, and returns once they have elected a JetStream meta
// leader and every node is current.
func StartCluster(name, dir string, n int) (*LocalCluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("natsembed: a cluster of %d nodes", n)
	}
	// A clustered JetStream server needs its routes at start, so the
	// route ports are picked before any node starts.
	routes, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	c := &LocalCluster{readyTimeout: 30 * time.Second}
	for i := range n {
		node := Config{
			Listen:   "127.0.0.1:0",
			Name:     fmt.Sprintf("%s-%d", name, i+1),
			StoreDir: filepath.Join(dir, fmt.Sprintf("%s-%d", name, i+1)),
			Cluster:  &Cluster{Name: name, Listen: routes[i], Routes: without(routes, i)},
		}
		srv, err := Start(node)
		if err != nil {
			c.Shutdown()
			return nil, fmt.Errorf("start node %s: %w", node.Name, err)
		}
		node.Listen = srv.Addr().String() // a restart binds the same port again
		c.nodes = append(c.nodes, node)
		c.servers = append(c.servers, srv)
	}
	if err := c.WaitCurrent(); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// freePorts returns n distinct free loopback addresses (host:port).
func freePorts(n int) ([]string, error) {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("natsembed: pick a free port: %w", err)
		}
		defer ln.Close() // held until all are picked, so they differ
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

// without is addrs without its i-th element.
func without(addrs []string, i int) []string {
	return append(slices.Clone(addrs[:i]), addrs[i+1:]...)
}

// Size is the number of nodes, running or stopped.
func (c *LocalCluster) Size() int { return len(c.nodes) }

// ClientURLs is every node's client URL, comma-separated: a NATS_URL.
func (c *LocalCluster) ClientURLs() string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = "nats://" + n.Listen
	}
	return strings.Join(urls, ",")
}

// Server is node i's server, nil while it is stopped.
func (c *LocalCluster) Server(i int) *server.Server { return c.servers[i] }

// Name is node i's server name.
func (c *LocalCluster) Name(i int) string { return c.nodes[i].Name }

// Stop shuts node i down at once, as a crash looks to its clients and
// peers: connections and routes are closed without a lame-duck period.
// Its store stays for Restart.
func (c *LocalCluster) Stop(i int) {
	if srv := c.servers[i]; srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		c.servers[i] = nil
	}
}

// Restart starts stopped node i again on its ports and store and waits
// until the cluster is current.
func (c *LocalCluster) Restart(i int) error {
	if c.servers[i] != nil {
		return fmt.Errorf("natsembed: node %s is running", c.nodes[i].Name)
	}
	node := c.nodes[i]
	srv, err := Start(node)
	if err != nil {
		return fmt.Errorf("restart node %s: %w", node.Name, err)
	}
	c.servers[i] = srv
	return c.WaitCurrent()
}

// WaitCurrent waits until one running node is the JetStream meta leader and
// every running node is current with it.
func (c *LocalCluster) WaitCurrent() error {
	deadline := time.Now().Add(c.readyTimeout)
	for {
		leader, current := false, true
		for _, srv := range c.servers {
			if srv == nil {
				continue
			}
			leader = leader || srv.JetStreamIsLeader()
			current = current && srv.JetStreamIsCurrent()
		}
		if leader && current {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("natsembed: the cluster has no current JetStream meta leader after " + c.readyTimeout.String())
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// Shutdown stops every running node.
func (c *LocalCluster) Shutdown() {
	for i := range c.servers {
		c.Stop(i)
	}
}
