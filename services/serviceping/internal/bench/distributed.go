package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/serviceping/serviceping/services/serviceping/internal/localcluster"
)

// stageProcesses are the processes of the distributed measurement whose
// peak resident memory is reported, in the report's order.
var stageProcesses = []string{"gateway-1", "enricher-1", "loader-1", "nats-1", "warehouse"}

// distributed posts the pings to the distributed topology on one machine,
// each stage its own process as a cluster runs them (localcluster, as
// `make run-cluster` starts it, with one NATS server and one process of
// each stage): bin/gateway, bin/enricher and bin/loader on a standalone
// nats-server, the loader writing the `serviceping warehouse` endpoint
// over HTTP. It measures the accepted rate, the time until every accepted
// ping is in `pings FINAL`, and each process's peak resident memory.
func distributed(ctx context.Context, cfg Config, r *Round) (err error) {
	dir, remove, err := tempDir(cfg, "distributed")
	if err != nil {
		return err
	}
	defer remove()
	c, err := localcluster.Start(ctx, localcluster.Config{
		Bin: cfg.bin, NATSServer: cfg.NATSServer, Data: dir, StartTimeout: cfg.StartTimeout,
		Logger: cfg.Logger, Nodes: 1, Replicas: 1,
		// Every ping comes from 127.0.0.1, hundreds from each instance.
		Env: []string{"GATEWAY_RATE_PER_IP=0", "GATEWAY_RATE_PER_UUID=0"},
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	wh := warehouse{url: c.Find("warehouse").Listen, client: &http.Client{Timeout: 30 * time.Second}}
	if err := wh.waitTables(ctx, cfg.StartTimeout); err != nil {
		return err
	}
	pids := map[string]int{}
	for _, name := range stageProcesses {
		pids[name] = c.Find(name).PID()
	}
	rss := sampleRSS(pids, cfg.RSSInterval)
	r.Distributed, r.DistributedE2E, err = endToEnd(ctx, cfg, wh, c.GatewayURLs[0])
	rss.stop()
	r.DistributedRSS = map[string]int64{}
	for _, name := range stageProcesses {
		r.DistributedRSS[name] = rss.Peak(name)
	}
	if err != nil {
		return err
	}
	if err := c.Exited(); err != nil {
		return fmt.Errorf("during the measurement: %w", err)
	}
	return nil
}
