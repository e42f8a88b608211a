// Command loader consumes enriched pings from JetStream and loads them into
// the Parquet lake (a directory or S3) and ClickHouse. Configuration is read
// from the environment; see loader.Config and `loader --help`.
package main

import (
	"os"

	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/services/loader/loader"
)

func main() {
	os.Exit(cli.Stage(cli.App{
		Name:        "loader",
		Description: "Consumes enriched pings from NATS JetStream and loads them into the Parquet lake (a directory or S3) and ClickHouse; acks only when every sink is durable.",
	}, loader.Config{}, run))
}
