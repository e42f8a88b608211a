package main

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/pkg/lifecycle"
)

// connectNATS connects an operator command to the pipeline's NATS at url
// (one server or a cluster's comma-separated servers) with the credentials
// and TLS of the environment, as the services do (NATS_CREDS, NATS_TLS_*);
// a bad one is a usage error.
func connectNATS(ctx context.Context, url, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	auth, err := lifecycle.ReadConfig[lifecycle.NATSAuth](ctx, nil)
	if err != nil {
		return nil, nil, cli.Usage(err)
	}
	return lifecycle.Connect(ctx, url, auth, name, log)
}
