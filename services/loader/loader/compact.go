package loader

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/services/loader/lake"
)

// Compactor compacts the lake's days (*lake.Dir, *lake.S3).
type Compactor interface {
	Compact(ctx context.Context, day string) (lake.CompactResult, error)
	Days(ctx context.Context) ([]string, error)
}

// compactor compacts, every Config.LakeCompactInterval, each lake day
// older than yesterday (UTC): days the loader no longer writes to, unless
// a replay or a late redelivery adds a file, which the next round folds
// in. Every loader may do it: compaction is idempotent and a compacted day
// is skipped without being read.
type compactor struct {
	lake     Compactor
	interval time.Duration
	now      func() time.Time
	days     *prometheus.CounterVec // result: compacted|failed
	log      *slog.Logger
}

func (c *compactor) run(ctx context.Context) { every(ctx, c.interval, c.once) }

// once compacts every day before yesterday that is not compacted yet.
func (c *compactor) once(ctx context.Context) {
	days, err := c.lake.Days(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("lake compaction: cannot list the days", "err", err)
		}
		return
	}
	before := c.now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	for _, day := range days {
		if day >= before || ctx.Err() != nil {
			return
		}
		res, err := c.lake.Compact(ctx, day)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("lake compaction failed; the next round retries it", "day", day, "err", err)
				c.days.WithLabelValues("failed").Inc()
			}
			continue
		}
		if res.PingRows > 0 {
			c.days.WithLabelValues("compacted").Inc()
			c.log.Info("lake day compacted", "day", day, "files", res.Files, "ping_rows", res.PingRows, "pings", res.Pings,
				"metric_rows", res.MetricRows, "metrics", res.Metrics)
		}
	}
}
