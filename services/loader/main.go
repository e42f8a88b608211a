// Command loader consumes enriched pings from JetStream and loads them into
// the Parquet lake (a directory or S3) and ClickHouse. Configuration is read from the
// environment; see loader.Config.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/serviceping/serviceping/pkg/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log, err := service.NewLogger(os.Stderr, os.Getenv("LOG_LEVEL"), os.Getenv("LOG_FORMAT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "loader:", err)
		os.Exit(2)
	}
	if err := run(ctx, log); err != nil {
		log.Error("loader failed", "err", err)
		os.Exit(1)
	}
}
