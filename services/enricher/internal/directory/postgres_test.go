package directory_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/enricher/internal/directory"
	"github.com/serviceping/serviceping/services/enricher/internal/seed"
)

// database creates a private database with the DDL and the seed.
func database(t *testing.T) string {
	t.Helper()
	return testinfra.PostgresDB(t, "directory_test",
		filepath.Join("..", "..", "..", "..", "deploy", "postgres", "0001_directory.sql"),
		filepath.Join("..", "..", "..", "..", "testdata", "directory", "seed.sql"))
}

func TestPostgresDirectory(t *testing.T) {
	t.Parallel()
	dsn := database(t)
	pg, err := directory.OpenPostgres(dsn, time.Second, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	ctx := context.Background()
	in := pinggen.InstanceOf(0)

	for _, k := range []directory.LicenseKey{
		{Kind: directory.KeyMD5, Value: in.LicenseMD5},
		{Kind: directory.KeySHA256, Value: in.LicenseSHA256},
		{Kind: directory.KeyID, Value: strconv.FormatInt(in.LicenseID, 10)},
	} {
		l, err := pg.LookupLicense(ctx, k)
		if err != nil || l.SubscriptionID != seed.SubscriptionID(0) {
			t.Errorf("license by %s: %+v, %v", k.Kind, l, err)
		}
	}
	for _, k := range []directory.LicenseKey{{Kind: directory.KeyMD5, Value: "nope"}, {Kind: directory.KeyID, Value: "not-a-number"}} {
		if _, err := pg.LookupLicense(ctx, k); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("license %s: %v, want not found", k, err)
		}
	}
	if a, err := pg.LookupAccount(ctx, seed.SubscriptionID(0)); err != nil || a.AccountID != seed.AccountID(0) {
		t.Errorf("account: %+v, %v", a, err)
	}
	if _, err := pg.LookupAccount(ctx, seed.SubscriptionID(3)); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("subscription without account: %v, want not found", err)
	}

	// last_ping_at only moves forward.
	key := directory.LicenseKey{Kind: directory.KeyMD5, Value: in.LicenseMD5}
	t1 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{t1, t1.Add(-7 * 24 * time.Hour), t1} {
		if err := pg.TouchLicense(ctx, key, at, "p"); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var last time.Time
	if err := conn.QueryRow(ctx, "SELECT last_ping_at FROM licenses WHERE license_md5 = $1", in.LicenseMD5).Scan(&last); err != nil || !last.Equal(t1) {
		t.Errorf("last_ping_at = %v (%v), want %v", last, err, t1)
	}

	// account_usage: one row per ping_id however often it is pushed.
	users := int64(5)
	u := directory.Usage{PingID: "ping-1", AccountID: seed.AccountID(0), SubscriptionID: seed.SubscriptionID(0), UUID: in.UUID,
		RecordedAt: t1, ActiveUsers: &users, LicenseSeats: 10, Counts: map[string]int64{"counts.issues": 3}}
	for range 2 {
		if err := pg.PushUsage(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM account_usage WHERE ping_id = 'ping-1'").Scan(&n); err != nil || n != 1 {
		t.Errorf("%d account_usage rows (%v), want 1", n, err)
	}
}
