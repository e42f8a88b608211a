package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/pkg/service"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/services/loader/loader"
)

// command is the loader's command line: logging flags; the rest of the
// configuration comes from the environment.
type command struct {
	cli.Logging
}

// Run runs the loader until ctx ends; a bad configuration is a usage
// error.
func (c *command) Run(ctx context.Context, log *slog.Logger) error {
	cfg, err := loader.ConfigFromEnv(ctx)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return cli.Usage(fmt.Errorf("invalid configuration: %w", err))
	}
	return run(ctx, log)
}

// run wires the loader from the environment and runs it until ctx ends.
func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := loader.ConfigFromEnv(ctx)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}

	return service.Run(ctx, service.Options{
		Name: "loader", NATSURL: cfg.NATSURL, MetricsListen: cfg.MetricsAddr, Streams: streams.Defaults(), Logger: log,
	}, func(ctx context.Context, d service.Deps) error {
		sinks, err := loader.OpenSinks(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer sinks.Close()
		l, err := loader.New(cfg, loader.Deps{JS: d.JS, Logger: log, Registerer: d.Registry, Sinks: sinks.List(), Reports: sinks.Reports(), Population: sinks.Population()})
		if err != nil {
			return err
		}
		return l.Run(ctx)
	})
}
