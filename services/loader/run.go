package main

import (
	"context"
	"log/slog"

	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/services/loader/loader"
)

// run reads the configuration (a usage error when it does not validate)
// and runs the loader until ctx ends.
func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := loader.LoadConfig(ctx, nil, log)
	if err != nil {
		return cli.Usage(err)
	}
	log.Info("loader starting", "config", cfg)
	return lifecycle.Run(ctx, lifecycle.Options{
		Name: "loader", NATS: cfg.NATS, MetricsListen: cfg.MetricsListen, Logger: log,
	}, func(ctx context.Context, d lifecycle.Deps) error {
		d.Ready.Starting("lake")
		if cfg.ClickHouseURL != "" {
			d.Ready.Starting("clickhouse")
		}
		sinks, err := loader.OpenSinks(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer sinks.Close()
		for name, check := range sinks.Checks() {
			d.Ready.Add(name, check)
		}
		l, err := loader.New(cfg, sinks.Deps(loader.Deps{JS: d.JS, Logger: log, Registerer: d.Registry, Tracer: d.Tracer}))
		if err != nil {
			return err
		}
		return l.Run(ctx)
	})
}
