package main

import (
	"context"
	"fmt"
	"os"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/service"
	"github.com/serviceping/serviceping/services/serviceping/internal/warehouse"
)

func warehouseCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "warehouse", "[flags]")
	listen := fs.String("listen", e.envOr("WAREHOUSE_LISTEN", "127.0.0.1:8123"), "ClickHouse HTTP listen address (env WAREHOUSE_LISTEN)")
	path := fs.String("path", e.envOr("WAREHOUSE_PATH", "./data/clickhouse"), "engine data directory (env WAREHOUSE_PATH)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*path, 0o755); err != nil {
		return fmt.Errorf("create warehouse directory: %w", err)
	}
	s, err := warehouse.Open(*path, *listen, e.log, service.NewRegistry())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "embedded ClickHouse %s on %s (data in %s)\n", s.Version(), s.URL, *path)
	return s.Serve(ctx)
}

func queryCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "query", "[flags] SQL")
	url := fs.String("clickhouse", e.envOr("CLICKHOUSE_URL", chconn.DefaultURL), "warehouse URL (env CLICKHOUSE_URL)")
	format := fs.String("format", "table", "output: table, csv or json (one object per line)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("query: exactly one SQL argument is required (quote it)")
	}
	conn, err := chconn.Open(ctx, *url)
	if err != nil {
		return err
	}
	defer conn.Close()
	t, err := warehouse.Query(ctx, conn, fs.Arg(0))
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return t.Write(e.stdout, warehouse.Format(*format))
}
