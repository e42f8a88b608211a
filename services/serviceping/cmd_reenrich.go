package main

import (
	"context"
	"fmt"
	"time"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/services/serviceping/internal/reenrich"
)

type reenrichCmd struct {
	Since string `required:"" placeholder:"DATE" help:"Re-enrich failed pings received on or after this date (YYYY-MM-DD or RFC 3339)."`
	warehouseURL
	pipelineNATS
	ID     string `name:"id" help:"Re-enrichment id, distinct per run (default: the current UTC time)."`
	DryRun bool   `help:"List the failed pings without re-publishing them."`
}

func (c *reenrichCmd) Run(ctx context.Context, e *env) error {
	from, err := parseSince(c.Since)
	if err != nil {
		return err
	}
	id := c.ID
	if id == "" {
		id = time.Now().UTC().Format("20060102T150405Z")
	}
	conn, err := chconn.Open(ctx, c.ClickHouse)
	if err != nil {
		return err
	}
	defer conn.Close()
	pings, err := reenrich.Failed(ctx, conn, from)
	if err != nil {
		return err
	}
	if c.DryRun || len(pings) == 0 {
		for _, p := range pings {
			fmt.Fprintf(e.stdout, "%s  %s  received %s\n", p.PingId, p.Uuid, p.ReceivedAt.AsTime().Format(time.RFC3339))
		}
		fmt.Fprintf(e.stdout, "%d failed pings received since %s\n", len(pings), from.Format(time.DateOnly))
		return nil
	}
	nc, js, err := connectNATS(ctx, c.NATS, "reenrich", e.log)
	if err != nil {
		return err
	}
	defer nc.Close()
	n, err := reenrich.Republish(ctx, js, pings, id)
	fmt.Fprintf(e.stdout, "re-published %d of %d failed pings received since %s for re-enrichment (id %s)\n", n, len(pings), from.Format(time.DateOnly), id)
	return err
}

// parseSince reads --since; a bad value is a usage error.
func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, cli.Usage(fmt.Errorf("--since is required"))
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, cli.Usage(fmt.Errorf("--since %q is neither YYYY-MM-DD nor RFC 3339", s))
}
