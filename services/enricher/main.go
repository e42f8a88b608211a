// Command enricher consumes raw pings and publishes enriched ones.
// Configuration is read from the environment (see README and
// `enricher --help`).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/services/enricher/enricher"
)

func main() {
	os.Exit(cli.Stage(cli.App{
		Name:        "enricher",
		Description: "Consumes raw pings from NATS JetStream, adds instance and license fields (directory and CRM lookups) and publishes enriched pings.",
	}, enricher.Config{}, run))
}

// run reads the configuration (a usage error when it does not validate)
// and runs the enricher until ctx ends.
func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := enricher.LoadConfig(ctx, nil)
	if err != nil {
		return cli.Usage(err)
	}
	return lifecycle.Run(ctx, lifecycle.Options{
		Name: "enricher", NATS: cfg.NATS, MetricsListen: cfg.MetricsListen, Logger: log,
	}, func(ctx context.Context, d lifecycle.Deps) error {
		e, err := enricher.New(cfg, enricher.Deps{JS: d.JS, Logger: log, Registerer: d.Registry, Tracer: d.Tracer})
		if err != nil {
			return err
		}
		for name, check := range e.Checks() {
			d.Ready.Add(name, check)
		}
		return e.Run(ctx)
	})
}
