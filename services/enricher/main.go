// Command enricher consumes raw pings and publishes enriched ones.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/serviceping/serviceping/pkg/service"
	"github.com/serviceping/serviceping/services/enricher/enricher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log, err := service.NewLogger(os.Stderr, os.Getenv("LOG_LEVEL"), os.Getenv("LOG_FORMAT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "enricher:", err)
		os.Exit(2)
	}
	if err := run(ctx, log); err != nil {
		log.Error("enricher failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	var cfg struct {
		enricher.Config
		service.Common
	}
	if err := service.LoadConfig(ctx, &cfg); err != nil {
		return err
	}
	if err := cfg.Config.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return service.Run(ctx, service.Options{
		Name: "enricher", NATSURL: cfg.NATSURL, MetricsListen: cfg.MetricsListen, Logger: log,
	}, func(ctx context.Context, d service.Deps) error {
		e, err := enricher.New(cfg.Config, enricher.Deps{JS: d.JS, Logger: log, Registerer: d.Registry})
		if err != nil {
			return err
		}
		return e.Run(ctx)
	})
}
