package main

import (
	"context"
	"fmt"
	"time"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/service"
	"github.com/serviceping/serviceping/services/serviceping/internal/reenrich"
)

func reenrichCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "reenrich", "--since DATE [flags]")
	since := fs.String("since", "", "re-enrich failed pings received on or after this date (YYYY-MM-DD or RFC 3339); required")
	chURL := fs.String("clickhouse", e.envOr("CLICKHOUSE_URL", chconn.DefaultURL), "warehouse URL (env CLICKHOUSE_URL)")
	natsURL := fs.String("nats", e.envOr("NATS_URL", "nats://127.0.0.1:4223"), "NATS server of the pipeline (env NATS_URL; default: the all-in-one's)")
	id := fs.String("id", time.Now().UTC().Format("20060102T150405Z"), "re-enrichment id, distinct per run")
	dryRun := fs.Bool("dry-run", false, "list the failed pings without re-publishing them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	from, err := parseSince(*since)
	if err != nil {
		fs.Usage()
		return err
	}
	conn, err := chconn.Open(ctx, *chURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	pings, err := reenrich.Failed(ctx, conn, from)
	if err != nil {
		return err
	}
	if *dryRun || len(pings) == 0 {
		for _, p := range pings {
			fmt.Fprintf(e.stdout, "%s  %s  received %s\n", p.PingId, p.Uuid, p.ReceivedAt.AsTime().Format(time.RFC3339))
		}
		fmt.Fprintf(e.stdout, "%d failed pings received since %s\n", len(pings), from.Format(time.DateOnly))
		return nil
	}
	nc, js, err := service.Connect(ctx, *natsURL, "reenrich", e.log)
	if err != nil {
		return err
	}
	defer nc.Close()
	n, err := reenrich.Republish(ctx, js, pings, *id)
	fmt.Fprintf(e.stdout, "re-published %d of %d failed pings received since %s for re-enrichment (id %s)\n", n, len(pings), from.Format(time.DateOnly), *id)
	return err
}

func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("--since is required")
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("--since %q is neither YYYY-MM-DD nor RFC 3339", s)
}
