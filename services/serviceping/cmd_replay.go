package main

import (
	"context"
	"fmt"
	"time"

	"github.com/serviceping/serviceping/pkg/service"
	"github.com/serviceping/serviceping/services/serviceping/internal/replay"
)

func replayCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "replay", "--since DATE [flags]")
	since := fs.String("since", "", "replay raw pings stored on or after this date (YYYY-MM-DD or RFC 3339); \"all\" for the whole stream")
	natsURL := fs.String("nats", e.envOr("NATS_URL", "nats://127.0.0.1:4223"), "NATS server of the pipeline (env NATS_URL; default: the all-in-one's)")
	id := fs.String("id", "replay-"+time.Now().UTC().Format("20060102T150405Z"), "replay id, distinct per run")
	dryRun := fs.Bool("dry-run", false, "count what would be replayed without publishing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var from time.Time
	if *since != "all" {
		t, err := parseSince(*since)
		if err != nil {
			fs.Usage()
			return err
		}
		from = t
	}
	nc, js, err := service.Connect(ctx, *natsURL, "replay", e.log)
	if err != nil {
		return err
	}
	defer nc.Close()
	res, err := replay.Raw(ctx, js, replay.Options{Since: from, ID: *id, DryRun: *dryRun})
	verb := "re-published"
	if *dryRun {
		verb = "would re-publish"
	}
	fmt.Fprintf(e.stdout, "%s %d pings for enrichment and loading (id %s); %d copies skipped, %d undecodable\n", verb, res.Pings, *id, res.Skipped, res.Undecodable)
	return err
}
