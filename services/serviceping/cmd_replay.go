package main

import (
	"context"
	"fmt"
	"time"

	"github.com/serviceping/serviceping/services/serviceping/internal/replay"
)

type replayCmd struct {
	Since string `required:"" placeholder:"DATE|all" help:"Replay raw pings stored on or after this date (YYYY-MM-DD or RFC 3339); \"all\" for the whole stream."`
	pipelineNATS
	ID     string `name:"id" help:"Replay id, distinct per run (default: replay- and the current UTC time)."`
	DryRun bool   `help:"Count what would be replayed without publishing."`
}

func (c *replayCmd) Run(ctx context.Context, e *env) error {
	var from time.Time
	if c.Since != "all" {
		t, err := parseSince(c.Since)
		if err != nil {
			return err
		}
		from = t
	}
	id := c.ID
	if id == "" {
		id = "replay-" + time.Now().UTC().Format("20060102T150405Z")
	}
	nc, js, err := connectNATS(ctx, c.NATS, "replay", e.log)
	if err != nil {
		return err
	}
	defer nc.Close()
	res, err := replay.Raw(ctx, js, replay.Options{Since: from, ID: id, DryRun: c.DryRun})
	verb := "re-published"
	if c.DryRun {
		verb = "would re-publish"
	}
	fmt.Fprintf(e.stdout, "%s %d pings for enrichment and loading (id %s); %d copies skipped, %d undecodable\n", verb, res.Pings, id, res.Skipped, res.Undecodable)
	return err
}
