package migrate_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chmigrations "github.com/serviceping/serviceping/deploy/clickhouse"
	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/services/loader/internal/migrate"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// fresh runs the test in parallel with a fresh database name (db, not
// created) and a connection to the shared endpoint.
func fresh(t *testing.T, prefix string) (context.Context, string, driver.Conn) {
	t.Helper()
	t.Parallel()
	return context.Background(), chtest.Database(t, prefix), chtest.Conn(t, "")
}

func shipped(t *testing.T) []migrate.File {
	t.Helper()
	files, err := migrate.Files(chmigrations.Migrations)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 || files[0].Name != "0001_pings.sql" {
		t.Fatalf("shipped migrations: %v", files)
	}
	return files
}

func names(files []migrate.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return out
}

// TestApplyFreshThenIdempotent applies every shipped file to a new
// database, re-runs (nothing to do), and compares the schema as the
// engine reports it with the golden file.
func TestApplyFreshThenIdempotent(t *testing.T) {
	ctx, db, conn := fresh(t, "migrate_fresh")
	files := shipped(t)

	done, err := migrate.Apply(ctx, conn, db, files, migrate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done, names(files)) {
		t.Errorf("applied %v, want %v", done, names(files))
	}
	done, err = migrate.Apply(ctx, conn, db, files, migrate.Options{})
	if err != nil || len(done) != 0 {
		t.Fatalf("second run applied %v, %v; want nothing", done, err)
	}
	rec, err := migrate.Recorded(ctx, conn, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != len(files) {
		t.Fatalf("recorded %v", rec)
	}
	for i, r := range rec {
		if r.Version != files[i].Version || r.Name != files[i].Name || r.Checksum != files[i].Checksum {
			t.Errorf("recorded %+v, want %s", r, files[i].Name)
		}
	}
	if n := chtest.Count(t, conn, "SELECT count() FROM "+db+".schema_migrations"); n != uint64(len(files)) {
		t.Errorf("%d rows in schema_migrations after two runs, want %d", n, len(files))
	}

	// The schema as applied.
	var b strings.Builder
	rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ? ORDER BY name", db)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	for _, tbl := range tables {
		var ddl string
		if err := conn.QueryRow(ctx, "SHOW CREATE TABLE "+db+"."+tbl).Scan(&ddl); err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.ReplaceAll(ddl, db+".", "serviceping.") + ";\n\n")
	}
	golden := filepath.Join("testdata", "schema.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if b.String() != string(want) {
		t.Errorf("schema differs from %s (run with -update after checking):\n%s", golden, b.String())
	}
}

func TestApplyPendingOnly(t *testing.T) {
	ctx, db, conn := fresh(t, "migrate_pending")
	files := shipped(t)
	if done, err := migrate.Apply(ctx, conn, db, files[:2], migrate.Options{}); err != nil || len(done) != 2 {
		t.Fatalf("first two: %v, %v", done, err)
	}
	done, err := migrate.Apply(ctx, conn, db, files, migrate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done, names(files[2:])) {
		t.Errorf("applied %v, want the pending %v", done, names(files[2:]))
	}
}

func TestChangedChecksumRefuses(t *testing.T) {
	ctx, db, conn := fresh(t, "migrate_changed")
	v1 := fstest.MapFS{
		"0001_t.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS serviceping.t (a UInt8) ENGINE = MergeTree ORDER BY a;")},
	}
	files, err := migrate.Files(v1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Apply(ctx, conn, db, files, migrate.Options{}); err != nil {
		t.Fatal(err)
	}
	v2 := fstest.MapFS{
		"0001_t.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS serviceping.t (a UInt16) ENGINE = MergeTree ORDER BY a;")},
		"0002_u.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS serviceping.u (a UInt8) ENGINE = MergeTree ORDER BY a;")},
	}
	if files, err = migrate.Files(v2); err != nil {
		t.Fatal(err)
	}
	done, err := migrate.Apply(ctx, conn, db, files, migrate.Options{})
	if !errors.Is(err, migrate.ErrChecksum) || !strings.Contains(err.Error(), "0001_t.sql") || len(done) != 0 {
		t.Fatalf("Apply with an edited file = %v, %v; want ErrChecksum naming 0001_t.sql", done, err)
	}
	if n := chtest.Count(t, conn, "SELECT count() FROM system.tables WHERE database = ? AND name = 'u'", db); n != 0 {
		t.Error("a pending migration was applied although an applied one changed")
	}
}

func TestFailedStatementIsNotRecorded(t *testing.T) {
	ctx, db, conn := fresh(t, "migrate_failed")
	files, err := migrate.Files(fstest.MapFS{
		"0001_bad.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS serviceping.t (a UInt8) ENGINE = MergeTree ORDER BY a;\nCREATE TABLE serviceping.x (a NoSuchType) ENGINE = Memory;")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Apply(ctx, conn, db, files, migrate.Options{}); err == nil || !strings.Contains(err.Error(), "0001_bad.sql statement 2") {
		t.Fatalf("Apply = %v, want statement 2 of 0001_bad.sql to fail", err)
	}
	if rec, err := migrate.Recorded(ctx, conn, db); err != nil || len(rec) != 0 {
		t.Errorf("recorded %v, %v after a failed file", rec, err)
	}
}

func TestFilesRejectsBadNames(t *testing.T) {
	t.Parallel()
	for name, fsys := range map[string]fstest.MapFS{
		"no number":    {"pings.sql": {Data: []byte("SELECT 1")}},
		"same version": {"0001_a.sql": {Data: []byte("SELECT 1")}, "0001_b.sql": {Data: []byte("SELECT 1")}},
	} {
		if _, err := migrate.Files(fsys); err == nil {
			t.Errorf("%s: Files accepted %v", name, fsys)
		}
	}
}

func TestSplit(t *testing.T) {
	t.Parallel()
	sql := "-- a; comment\nCREATE TABLE serviceping.a (s String DEFAULT 'x;y') ENGINE = Memory; /* b; */\n\n" +
		"CREATE VIEW serviceping.v AS SELECT ';' AS `c;d` FROM serviceping.a -- trailing ;\n;\n  -- only a comment\n"
	got := migrate.Split(sql)
	want := []string{
		"CREATE TABLE serviceping.a (s String DEFAULT 'x;y') ENGINE = Memory",
		"CREATE VIEW serviceping.v AS SELECT ';' AS `c;d` FROM serviceping.a",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Split = %q, want %q", got, want)
	}
	f := migrate.File{SQL: sql}
	st := f.Statements("other_db")
	if len(st) != 2 || regexp.MustCompile(`\bserviceping\.`).MatchString(strings.Join(st, "\n")) || !strings.Contains(st[1], "FROM other_db.a") {
		t.Errorf("Statements(other_db) = %q", st)
	}
}
