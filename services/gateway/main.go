// Command gateway is the serviceping HTTP gateway, a drop-in for GitLab's
// Versions application: it receives Service Pings and publishes them to
// NATS JetStream. Configuration is read from the environment (see README
// and `gateway --help`).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/services/gateway/gateway"
)

func main() {
	os.Exit(cli.Stage(cli.App{
		Name:        "gateway",
		Description: "The HTTP gateway of GitLab's Versions application: receives Service Pings (POST /usage_data) and publishes them to NATS JetStream.",
	}, gateway.Config{}, run))
}

// run reads the configuration (a usage error when it does not validate)
// and runs the gateway until ctx ends.
func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := gateway.LoadConfig(ctx, nil)
	if err != nil {
		return cli.Usage(err)
	}
	return gateway.Run(ctx, cfg, log, lifecycle.NewRegistry())
}
