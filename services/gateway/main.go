// Command gateway is the serviceping HTTP gateway, a drop-in for GitLab's
// Versions application: it receives Service Pings and publishes them to
// NATS JetStream. Configuration is read from the environment (see README).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/service"
	"github.com/serviceping/serviceping/services/gateway/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	logger, err := service.NewLogger(os.Stderr, os.Getenv("LOG_LEVEL"), os.Getenv("LOG_FORMAT"))
	if err != nil {
		return err
	}
	var cfg gateway.Config
	if err := envconfig.Process(ctx, &cfg); err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	return gateway.Run(ctx, cfg, logger, service.NewRegistry())
}
