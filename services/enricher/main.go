// Command enricher consumes raw pings and publishes enriched ones.
// Configuration is read from the environment (see README and
// `enricher --help`).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/services/enricher/enricher"
)

// version is set by the build: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cli.Run(ctx, cli.App{
		Name:        "enricher",
		Description: "Consumes raw pings from NATS JetStream, adds instance and license fields (directory and CRM lookups) and publishes enriched pings.",
		Version:     version,
		Epilog:      cli.EnvHelp(enricher.Config{}),
	}, &command{}, os.Args[1:])
	stop()
	os.Exit(code)
}

// command is the enricher's command line: logging flags; the rest of the
// configuration comes from the environment.
type command struct {
	cli.Logging
}

func (c *command) Run(ctx context.Context, log *slog.Logger) error {
	cfg, err := enricher.LoadConfig(ctx, nil)
	if err != nil {
		return cli.Usage(err)
	}
	return lifecycle.Run(ctx, lifecycle.Options{
		Name: "enricher", NATSURL: cfg.NATSURL, MetricsListen: cfg.MetricsListen, Logger: log,
	}, func(ctx context.Context, d lifecycle.Deps) error {
		e, err := enricher.New(cfg, enricher.Deps{JS: d.JS, Logger: log, Registerer: d.Registry})
		if err != nil {
			return err
		}
		return e.Run(ctx)
	})
}
