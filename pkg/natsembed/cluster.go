package natsembed

import (
	"errors"
	"fmt"
	"path/filepath"
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
	c := &LocalCluster{readyTimeout: 30 * time.Second}
	for i := range n {
		node := Config{
			Listen:   "127.0.0.1:0",
			Name:     fmt.Sprintf("%s-%d", name, i+1),
			StoreDir: filepath.Join(dir, fmt.Sprintf("%s-%d", name, i+1)),
			Cluster:  &Cluster{Name: name, Listen: "127.0.0.1:0", Routes: c.routes(-1)},
		}
		srv, err := Start(node)
		if err != nil {
			c.Shutdown()
			return nil, fmt.Errorf("start node %s: %w", node.Name, err)
		}
		// A restart binds the same ports again.
		node.Listen = srv.Addr().String()
		node.Cluster.Listen = srv.ClusterAddr().String()
		c.nodes = append(c.nodes, node)
		c.servers = append(c.servers, srv)
	}
	if err := c.WaitCurrent(); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// routes are the route addresses of every started node but skip.
func (c *LocalCluster) routes(skip int) []string {
	var out []string
	for i, n := range c.nodes {
		if i != skip {
			out = append(out, n.Cluster.Listen)
		}
	}
	return out
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

// Restart starts stopped node i again on its ports and store, routed to
// every other node, and waits until the cluster is current.
func (c *LocalCluster) Restart(i int) error {
	if c.servers[i] != nil {
		return fmt.Errorf("natsembed: node %s is running", c.nodes[i].Name)
	}
	node := c.nodes[i]
	cl := *node.Cluster
	cl.Routes = c.routes(i)
	node.Cluster = &cl
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
