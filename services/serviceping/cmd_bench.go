package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/services/serviceping/internal/bench"
)

type benchCmd struct {
	Bin         []string      `default:"bin" placeholder:"DIR" help:"Directory of the gateway, enricher, loader and serviceping binaries to measure (make build's bin); several (repeated or comma-separated) are measured in turn in each round, to compare builds under the same load."`
	NATSServer  string        `name:"nats-server" env:"NATS_SERVER" placeholder:"FILE" help:"The nats-server executable (make nats-server builds it and prints its path)."`
	Pings       int           `default:"3000" help:"Pings in each measurement."`
	Rounds      int           `default:"2" help:"Rounds of every measurement, each on fresh servers."`
	Concurrency int           `default:"8" help:"Requests in flight, and raw JetStream publishers."`
	Instances   int           `default:"500" help:"Distinct simulated installations."`
	Timeout     time.Duration `default:"10m" help:"Bound of each measurement: a load run, the wait until every ping is queryable."`
	Poll        time.Duration `default:"500ms" help:"How often the warehouse is asked which pings it holds (the resolution of ping→queryable)."`
	RSSInterval time.Duration `name:"rss-interval" default:"200ms" help:"How often resident memory is sampled."`
	Out         string        `placeholder:"FILE" help:"Also write the table to this file."`
	chdbLib
}

// Run measures and prints the markdown report; progress goes to the log.
func (c *benchCmd) Run(ctx context.Context, e *env) error {
	if c.NATSServer == "" {
		return cli.Usage(fmt.Errorf("--nats-server (NATS_SERVER) is required: make nats-server builds it and prints its path"))
	}
	if err := c.use(e); err != nil { // the all-in-one's engine, through CHDB_LIB
		return err
	}
	cfg := bench.Config{
		Bins: c.Bin, NATSServer: c.NATSServer, Pings: c.Pings, Rounds: c.Rounds, Concurrency: c.Concurrency, Instances: c.Instances,
		Timeout: c.Timeout, StartTimeout: 2 * time.Minute, Poll: c.Poll, RSSInterval: c.RSSInterval, Logger: e.log,
	}
	if err := cfg.Validate(); err != nil {
		return cli.Usage(err)
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := rep.Markdown(e.stdout); err != nil {
		return err
	}
	if c.Out == "" {
		return nil
	}
	f, err := os.Create(c.Out)
	if err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	if err := rep.Markdown(f); err != nil {
		f.Close()
		return fmt.Errorf("write the report to %s: %w", c.Out, err)
	}
	return f.Close()
}
