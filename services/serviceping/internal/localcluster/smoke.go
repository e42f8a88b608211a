package localcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/services/serviceping/internal/client"
)

// Smoke posts one payload to each gateway and waits until every one is in
// the warehouse (pings FINAL), then checks that the streams kept their
// three replicas. It returns the ping ids.
func (c *Cluster) Smoke(ctx context.Context, payloads [][]byte) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var ids []string
	for i, body := range payloads {
		gw := c.GatewayURLs[i%len(c.GatewayURLs)]
		s := client.Sender{HTTP: &http.Client{Timeout: 30 * time.Second}, GatewayURL: gw}
		resp, err := s.Send(ctx, body, false)
		if err != nil {
			return nil, fmt.Errorf("post to %s: %w", gw, err)
		}
		if resp.Status != http.StatusCreated {
			return nil, fmt.Errorf("%s answered %d: %s", gw, resp.Status, resp.Body)
		}
		var root struct {
			UUID       string `json:"uuid"`
			RecordedAt string `json:"recorded_at"`
		}
		if err := json.Unmarshal(body, &root); err != nil {
			return nil, fmt.Errorf("read the payload's identity: %w", err)
		}
		ids = append(ids, ping.ID(root.UUID, root.RecordedAt))
	}

	conn, err := chconn.Open(ctx, c.ClickHouseURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	for {
		var n uint64
		err := conn.QueryRow(ctx, "SELECT count() FROM serviceping.pings FINAL WHERE ping_id IN ?", ids).Scan(&n)
		if err == nil && int(n) == len(ids) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d pings in the warehouse after 2 minutes (last error: %v); see the logs in %s/logs", n, len(ids), err, c.cfg.Data)
		case <-time.After(200 * time.Millisecond): // polling interval
		}
	}
	for {
		err := c.checkReplicas(ctx)
		if err == nil {
			return ids, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond): // replicas catch up after a leader election
		}
	}
}

// checkReplicas fails unless every stream has a replica per NATS server, all
// current.
func (c *Cluster) checkReplicas(ctx context.Context) error {
	if c.cfg.Nodes == 1 {
		return nil // one server: no replicas
	}
	nc, err := nats.Connect(c.NATSURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", c.NATSURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for _, cfg := range streams.Configs(streams.Defaults()) {
		s, err := js.Stream(ctx, cfg.Name)
		if err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
		if n := c.cfg.Nodes; info.Config.Replicas != n || info.Cluster == nil || len(info.Cluster.Replicas) != n-1 ||
			slices.ContainsFunc(info.Cluster.Replicas, func(p *jetstream.PeerInfo) bool { return !p.Current }) {
			return fmt.Errorf("stream %s: replicas %d, cluster %+v; want %d, all current", cfg.Name, info.Config.Replicas, info.Cluster, c.cfg.Nodes)
		}
	}
	return nil
}
