package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/serviceping/serviceping/services/collector/internal/instancedb"
)

// SeedResult says how many rows SeedInstance wrote to the main tables.
type SeedResult struct {
	Builds, Users, Projects int
}

// SeedInstance creates the GitLab-like demo instance schema in the
// PostgreSQL database at dbURL and fills it deterministically, ci_builds
// holding builds rows and the other tables scaled from it; timestamps are
// spread over the 90 days before ref. It is what `collector seed` runs.
func SeedInstance(ctx context.Context, dbURL string, builds int, ref time.Time) (SeedResult, error) {
	if dbURL == "" {
		return SeedResult{}, errors.New("seed needs DATABASE_URL or --database-url")
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return SeedResult{}, fmt.Errorf("open database: %w", err)
	}
	defer pool.Close()
	if err := instancedb.Apply(ctx, pool); err != nil {
		return SeedResult{}, err
	}
	c, err := instancedb.Seed(ctx, pool, instancedb.Size{Builds: builds}, ref)
	if err != nil {
		return SeedResult{}, err
	}
	return SeedResult{Builds: c.Builds, Users: c.Users, Projects: c.Projects}, nil
}
