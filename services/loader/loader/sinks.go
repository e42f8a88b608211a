package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/serviceping/serviceping/pkg/redact"
	"github.com/serviceping/serviceping/services/loader/internal/migrate"
	"github.com/serviceping/serviceping/services/loader/lake"
	"github.com/serviceping/serviceping/services/loader/rows"
	"github.com/serviceping/serviceping/services/loader/warehouse"
)

// Sinks are the sinks a configuration names, opened.
type Sinks struct {
	// Lake is the Parquet lake (*lake.Dir or *lake.S3).
	Lake lake.Store
	// Warehouse is the ClickHouse sink; nil without CLICKHOUSE_URL.
	Warehouse *warehouse.Sink
	// FromLake, when set, makes the warehouse read each batch from the
	// lake files just written (LOADER_CLICKHOUSE_INSERT=lake) instead of
	// being sent the rows alongside.
	FromLake warehouse.LakeFiles
}

// Deps are d with the sinks' parts of the loader's dependencies set:
// Sinks, Reports, Population and Lake.
func (s *Sinks) Deps(d Deps) Deps {
	d.Sinks, d.Reports, d.Population, d.Lake = s.List(), s.Reports(), s.Population(), s.Lake
	return d
}

// Checks are the readiness checks of the sinks: "lake", and "clickhouse"
// with a warehouse.
func (s *Sinks) Checks() map[string]func(context.Context) error {
	out := map[string]func(context.Context) error{"lake": s.Lake.Check}
	if s.Warehouse != nil {
		out["clickhouse"] = s.Warehouse.Ping
	}
	return out
}

// List is every sink, for Deps.Sinks: the lake and the warehouse written
// at the same time, or — the warehouse reading the lake — one sink writing
// the lake, then the warehouse.
func (s *Sinks) List() []Sink {
	switch {
	case s.Warehouse == nil:
		return []Sink{s.Lake}
	case s.FromLake != nil:
		return []Sink{SinkFunc(func(ctx context.Context, b rows.Batch) error {
			if err := s.Lake.Write(ctx, b); err != nil {
				return err
			}
			return s.Warehouse.WriteFromLake(ctx, b, s.FromLake)
		})}
	}
	return []Sink{s.Lake, s.Warehouse}
}

// Reports is where the REPORTS stream lands, for Deps.Reports: the
// warehouse, or nil without CLICKHOUSE_URL (reports have no lake output).
func (s *Sinks) Reports() ReportWriter {
	if s.Warehouse == nil {
		return nil
	}
	return s.Warehouse
}

// Population is where the DevOps Score leaders come from, for
// Deps.Population: the warehouse, or nil without CLICKHOUSE_URL.
func (s *Sinks) Population() PopulationReader {
	if s.Warehouse == nil {
		return nil
	}
	return s.Warehouse
}

// Close releases the warehouse connection.
func (s *Sinks) Close() error {
	if s.Warehouse != nil {
		return s.Warehouse.Close()
	}
	return nil
}

// OpenSinks opens the lake (LAKE_URL: s3:// or a directory) and, with
// CLICKHOUSE_URL, the warehouse, applying its migrations. An unreachable
// ClickHouse is retried with backoff until ctx ends (the loader must come
// up by itself once it is back); a changed migration fails at once.
func OpenSinks(ctx context.Context, cfg Config, log *slog.Logger) (*Sinks, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sinks{}
	l, err := lake.Open(ctx, cfg.LakeURL, lake.S3Options{Endpoint: cfg.S3Endpoint})
	if err != nil {
		return nil, err
	}
	if b, ok := l.(*lake.S3); ok {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := b.Check(cctx); err != nil {
			log.Warn("lake bucket not reachable yet; batches will wait for it", "lake", l.Root(), "err", err)
		}
		cancel()
	}
	s.Lake = l
	log.Info("lake ready", "lake", s.Lake.Root())
	if cfg.ClickHouseURL == "" {
		log.Info("CLICKHOUSE_URL is empty: loading the lake only; the REPORTS stream is not consumed")
		return s, nil
	}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		w, err := warehouse.Open(actx, cfg.ClickHouseURL, warehouse.Options{
			MaxRowsPerInsert: cfg.ClickHouseMaxRowsPerInsert, Logger: log, Cluster: cfg.ClickHouseCluster, SkipMigrations: !cfg.Migrate,
		})
		cancel()
		if err == nil {
			s.Warehouse = w
			insert := InsertRows
			if d, ok := s.Lake.(*lake.Dir); ok && cfg.ClickHouseInsert == InsertLake {
				s.FromLake, insert = warehouse.DirFiles{Root: d.Root()}, InsertLake
			}
			log.Info("warehouse ready", "clickhouse", redact.URL(cfg.ClickHouseURL), "database", w.Database(), "insert", insert)
			return s, nil
		}
		if errors.Is(err, migrate.ErrChecksum) || ctx.Err() != nil {
			return nil, err
		}
		delay := min(time.Duration(attempt)*time.Second, 10*time.Second)
		log.Warn("warehouse not ready, retrying", "clickhouse", redact.URL(cfg.ClickHouseURL), "attempt", attempt, "retry_in", delay, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open warehouse: %w", err)
		case <-time.After(delay):
		}
	}
}
