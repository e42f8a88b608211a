// Command gateway is the serviceping HTTP gateway, a drop-in for GitLab's
// Versions application: it receives Service Pings and publishes them to
// NATS JetStream. Configuration is read from the environment (see README
// and `gateway --help`).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/services/gateway/gateway"
)

// version is set by the build: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cli.Run(ctx, cli.App{
		Name:        "gateway",
		Description: "The HTTP gateway of GitLab's Versions application: receives Service Pings (POST /usage_data) and publishes them to NATS JetStream.",
		Version:     version,
		Epilog:      cli.EnvHelp(gateway.Config{}),
	}, &command{}, os.Args[1:])
	stop()
	os.Exit(code)
}

// command is the gateway's command line: logging flags; the rest of the
// configuration comes from the environment.
type command struct {
	cli.Logging
}

func (c *command) Run(ctx context.Context, log *slog.Logger) error {
	cfg, err := gateway.LoadConfig(ctx, nil)
	if err != nil {
		return cli.Usage(err)
	}
	return gateway.Run(ctx, cfg, log, lifecycle.NewRegistry())
}
