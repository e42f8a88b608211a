package main

import (
	"context"
	"fmt"

	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/services/loader/lake"
)

// lakeCmd works on the Parquet lake.
type lakeCmd struct {
	Compact lakeCompactCmd `cmd:"" help:"Rewrite one day of the lake as one file per table, one row per ping (its latest version) with its metric rows."`
}

type lakeCompactCmd struct {
	Day        string `required:"" placeholder:"YYYY-MM-DD" help:"The day (dt partition, the UTC date pings were received) to compact."`
	Lake       string `name:"lake" env:"LAKE_URL" default:"./data/lake" placeholder:"URL" help:"Lake root: a directory or s3://bucket/prefix; the default is the all-in-one's."`
	S3Endpoint string `name:"s3-endpoint" env:"S3_ENDPOINT" placeholder:"URL" help:"S3 endpoint (MinIO, …); empty: AWS."`
}

func (c *lakeCompactCmd) Validate() error {
	if err := lake.ValidDay(c.Day); err != nil {
		return cli.Usage(err)
	}
	return nil
}

func (c *lakeCompactCmd) Run(ctx context.Context, e *env) error {
	l, err := lake.Open(ctx, c.Lake, lake.S3Options{Endpoint: c.S3Endpoint})
	if err != nil {
		return err
	}
	res, err := l.Compact(ctx, c.Day)
	if err != nil {
		return fmt.Errorf("compact %s of %s: %w", c.Day, l.Root(), err)
	}
	switch {
	case res.Files == 0:
		fmt.Fprintf(e.stdout, "%s: the lake has no files for %s\n", l.Root(), c.Day)
	case res.PingRows == 0 && res.MetricRows == 0:
		fmt.Fprintf(e.stdout, "%s: %s is compacted already\n", l.Root(), c.Day)
	default:
		fmt.Fprintf(e.stdout, "%s: compacted %s: %d files → one per table; %d ping rows → %d pings; %d metric rows → %d\n",
			l.Root(), c.Day, res.Files, res.PingRows, res.Pings, res.MetricRows, res.Metrics)
	}
	return nil
}
