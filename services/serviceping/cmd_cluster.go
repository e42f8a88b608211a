package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/services/serviceping/internal/localcluster"
)

// runClusterCmd is `make run-cluster`: the distributed topology as local
// processes.
type runClusterCmd struct {
	Data       string `default:"./data/cluster" placeholder:"DIR" help:"NATS stores, engine data, lake and logs."`
	Ports      int    `default:"14220" placeholder:"PORT" help:"First of the 16 consecutive ports the processes listen on (127.0.0.1); 0 takes free ports."`
	Bin        string `default:"bin" placeholder:"DIR" help:"Directory of the gateway, enricher, loader and serviceping binaries (make build)."`
	NATSServer string `name:"nats-server" env:"NATS_SERVER" required:"" placeholder:"FILE" help:"The nats-server executable (make run-cluster builds the pinned one)."`
	Smoke      bool   `help:"Post a ping to each gateway, wait until both are in ClickHouse, check the streams' replicas, then stop."`
	Testdata   string `default:"testdata" placeholder:"DIR" help:"The repository's testdata directory, for the docs example payload."`
	chdbLib
}

func (c *runClusterCmd) Run(ctx context.Context, e *env) error {
	if err := c.use(e); err != nil {
		return err
	}
	bin, err := filepath.Abs(c.Bin)
	if err != nil {
		return err
	}
	cl, err := localcluster.Start(ctx, localcluster.Config{Bin: bin, NATSServer: c.NATSServer, Data: c.Data, Ports: c.Ports, Logger: e.log})
	if err != nil {
		return err
	}
	defer func() {
		if err := cl.Close(); err != nil {
			e.log.Warn("stopping the cluster", "err", err)
		}
	}()
	fmt.Fprintf(e.stdout, "serviceping cluster is running: %d NATS nodes, %d of each stage, streams at %d replicas\n\n",
		localcluster.NATSNodes, localcluster.Replicas, localcluster.NATSNodes)
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  process\tlistens on\tlog")
	for _, p := range cl.Processes {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Name, p.Listen, p.Log)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "\n  nats        %s\n  clickhouse  %s\n  lake        %s\n  gateways    %s\n",
		cl.NATSURL, cl.ClickHouseURL, cl.LakeURL, strings.Join(cl.GatewayURLs, " "))
	fmt.Fprintf(e.stdout, "\nthe command line of each process is the first line of its log; try:\n  bin/serviceping send testdata/payloads/docs_example.json --gateway %s\n  bin/serviceping query --clickhouse %s \"SELECT uuid, version, enrichment_status FROM pings_latest\"\n",
		cl.GatewayURLs[0], cl.ClickHouseURL)
	if c.Smoke {
		return c.smoke(ctx, e, cl)
	}
	fmt.Fprintln(e.stdout, "press Ctrl-C to stop")
	return cl.Wait(ctx)
}

// smoke sends the docs example through the first gateway and a generated
// full-size ping through the second.
func (c *runClusterCmd) smoke(ctx context.Context, e *env, cl *localcluster.Cluster) error {
	docs, err := os.ReadFile(filepath.Join(c.Testdata, "payloads", "docs_example.json"))
	if err != nil {
		return err
	}
	g, err := pinggen.New()
	if err != nil {
		return err
	}
	ids, err := cl.Smoke(ctx, [][]byte{docs, g.JSON(pinggen.Spec{Instance: 1, Week: 0})})
	if err != nil {
		return fmt.Errorf("smoke test: %w", err)
	}
	for i, id := range ids {
		fmt.Fprintf(e.stdout, "ping %s went through %s to ClickHouse\n", id, cl.GatewayURLs[i%len(cl.GatewayURLs)])
	}
	fmt.Fprintf(e.stdout, "every stream has %d current replicas\n", localcluster.NATSNodes)
	return nil
}
