package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/services/loader/internal/migrate"
)

// renderAll renders the setup and every shipped file for cluster ("" for
// one server).
func renderAll(t *testing.T, cluster string) []string {
	t.Helper()
	r := migrate.NewRenderer(migrate.DefaultDatabase, cluster)
	var out []string
	for _, st := range migrate.SetupStatements(migrate.DefaultDatabase) {
		sts, err := r.Statement(st)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sts...)
	}
	for _, f := range shipped(t) {
		sts, err := r.Render(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sts...)
	}
	return out
}

// TestRenderedMigrations: the shipped migrations as they run on one server
// and on a cluster, compared with golden files, every statement parsed by
// the engine.
func TestRenderedMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.Conn(t, "")
	for _, mode := range []struct{ name, cluster string }{{"single", ""}, {"cluster", "serviceping_cluster"}} {
		t.Run(mode.name, func(t *testing.T) {
			sts := renderAll(t, mode.cluster)
			var b strings.Builder
			for _, st := range sts {
				var formatted string
				if err := conn.QueryRow(ctx, "SELECT formatQuery(?)", st).Scan(&formatted); err != nil {
					t.Fatalf("the engine does not parse %s: %v", st, err)
				}
				if mode.cluster != "" && !strings.Contains(formatted, "ON CLUSTER "+mode.cluster) {
					t.Errorf("not ON CLUSTER: %s", formatted)
				}
				b.WriteString(st + ";\n\n")
			}
			golden(t, filepath.Join("testdata", "rendered_"+mode.name+".golden"), b.String())
		})
	}
	single := renderAll(t, "")
	files := shipped(t)
	plain := migrate.SetupStatements(migrate.DefaultDatabase)
	for _, f := range files {
		plain = append(plain, f.Statements(migrate.DefaultDatabase)...)
	}
	if strings.Join(single, "\n") != strings.Join(plain, "\n") {
		t.Error("single-server rendering changed the shipped statements")
	}
}

// golden compares got with the file at path (-update rewrites it).
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update after checking):\n%s", path, got)
	}
}

// TestRendererRules: how each kind of statement is rendered for a cluster,
// and the statements that cannot be.
func TestRendererRules(t *testing.T) {
	t.Parallel()
	r := migrate.NewRenderer("db", "c1")
	cases := []struct {
		name, in string
		want     []string
		err      string
	}{
		{name: "sharded table", in: "CREATE TABLE IF NOT EXISTS db.t (ping_id String, uuid String, n Nullable(Decimal(10, 2)) DEFAULT 0)\nENGINE = ReplacingMergeTree(_version)\nORDER BY uuid\nSETTINGS index_granularity = 4096, non_replicated_deduplication_window = 10000",
			want: []string{
				"CREATE TABLE IF NOT EXISTS db.t_local ON CLUSTER c1\n(ping_id String, uuid String, n Nullable(Decimal(10, 2)) DEFAULT 0)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/t_local', '{replica}', _version)\nORDER BY uuid\nSETTINGS index_granularity = 4096",
				"CREATE TABLE IF NOT EXISTS db.t ON CLUSTER c1 AS db.t_local\nENGINE = Distributed(c1, db, t_local, cityHash64(uuid))",
			}},
		{name: "settings led by the dropped one", in: "CREATE TABLE db.s (uuid String) ENGINE = MergeTree ORDER BY uuid SETTINGS non_replicated_deduplication_window = 5, index_granularity = 1024",
			want: []string{
				"CREATE TABLE db.s_local ON CLUSTER c1\n(uuid String)\nENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/s_local', '{replica}') ORDER BY uuid SETTINGS index_granularity = 1024",
				"CREATE TABLE db.s ON CLUSTER c1 AS db.s_local\nENGINE = Distributed(c1, db, s_local, cityHash64(uuid))",
			}},
		{name: "table without instances is replicated whole", in: "CREATE TABLE db.dim (previous_uuid String, k UInt8) ENGINE = ReplacingMergeTree ORDER BY k",
			want: []string{"CREATE TABLE db.dim ON CLUSTER c1\n(previous_uuid String, k UInt8)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/db/dim', '{replica}') ORDER BY k"}},
		{name: "column change reaches both tables", in: "ALTER TABLE db.t ADD COLUMN IF NOT EXISTS x UInt8",
			want: []string{"ALTER TABLE db.t_local ON CLUSTER c1 ADD COLUMN IF NOT EXISTS x UInt8", "ALTER TABLE db.t ON CLUSTER c1 ADD COLUMN IF NOT EXISTS x UInt8"}},
		{name: "other alter reaches the data", in: "ALTER TABLE db.t MODIFY TTL toDate(recorded_at) + INTERVAL 1 YEAR",
			want: []string{"ALTER TABLE db.t_local ON CLUSTER c1 MODIFY TTL toDate(recorded_at) + INTERVAL 1 YEAR"}},
		{name: "alter of a whole table", in: "ALTER TABLE db.dim ADD COLUMN y UInt8",
			want: []string{"ALTER TABLE db.dim ON CLUSTER c1 ADD COLUMN y UInt8"}},
		{name: "view", in: "CREATE OR REPLACE VIEW db.v AS SELECT * FROM db.t FINAL",
			want: []string{"CREATE OR REPLACE VIEW db.v ON CLUSTER c1 AS SELECT * FROM db.t FINAL"}},
		{name: "database", in: "CREATE DATABASE IF NOT EXISTS db", want: []string{"CREATE DATABASE IF NOT EXISTS db ON CLUSTER c1"}},
		{name: "drop", in: "DROP TABLE IF EXISTS db.t SYNC",
			want: []string{"DROP TABLE IF EXISTS db.t ON CLUSTER c1 SYNC", "DROP TABLE IF EXISTS db.t_local ON CLUSTER c1 SYNC"}},
		{name: "insert cannot be rendered", in: "INSERT INTO db.dim VALUES (1)", err: "cannot be rendered for a cluster"},
		{name: "other engines cannot be rendered", in: "CREATE TABLE db.m (uuid String) ENGINE = Memory", err: "only MergeTree-family engines"},
		{name: "replicated already", in: "CREATE TABLE db.r (uuid String) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY uuid", err: "already Replicated"},
	}
	for _, c := range cases { // in order: later cases use the tables of earlier ones
		got, err := r.Statement(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if strings.Join(got, "\n--\n") != strings.Join(c.want, "\n--\n") {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
	if err := migrate.NewRenderer("db", "c1; DROP").Validate(); err == nil {
		t.Error("a cluster name with SQL in it was accepted")
	}
}

// TestApplyRefusesUnrenderable: on a cluster, a file that cannot be
// rendered stops the run before anything is applied.
func TestApplyRefusesUnrenderable(t *testing.T) {
	ctx, db, conn := fresh(t, "migrate_unrenderable")
	files, err := migrate.Files(fstest.MapFS{"0001_bad.sql": {Data: []byte("CREATE TABLE serviceping.x (uuid String) ENGINE = Log")}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = migrate.Apply(ctx, conn, db, files, migrate.Options{Cluster: "c1"})
	if err == nil || !strings.Contains(err.Error(), "0001_bad.sql statement 1") {
		t.Fatalf("Apply: %v", err)
	}
	if n := chtest.Count(t, conn, "SELECT count() FROM system.databases WHERE name = ?", db); n != 0 {
		t.Fatalf("database %s was created although the run was refused", db)
	}
}

// TestConcurrentRunners: runners started together apply every file once
// between them, and the lock is gone afterwards.
func TestConcurrentRunners(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := chtest.Database(t, "migrate_race")
	files := shipped(t)
	const runners = 4
	var wg sync.WaitGroup
	results := make([][]string, runners)
	errs := make([]error, runners)
	for i := range runners {
		wg.Go(func() {
			results[i], errs[i] = migrate.Apply(ctx, chtest.Conn(t, ""), db, files, migrate.Options{})
		})
	}
	wg.Wait()
	applied := 0
	for i := range runners {
		if errs[i] != nil {
			t.Fatalf("runner %d: %v", i, errs[i])
		}
		applied += len(results[i])
	}
	if applied != len(files) {
		t.Fatalf("runners applied %d files between them (%v), want %d once each", applied, results, len(files))
	}
	conn := chtest.Conn(t, "")
	if n := chtest.Count(t, conn, "SELECT count() FROM "+db+".schema_migrations"); n != uint64(len(files)) {
		t.Errorf("%d rows in schema_migrations, want %d", n, len(files))
	}
	if n := chtest.Count(t, conn, "SELECT count() FROM system.tables WHERE database = ? AND name = 'schema_migrations_lock'", db); n != 0 {
		t.Error("the lock was left behind")
	}
}

// TestHeldLock: a lock held by a live runner makes Apply wait and then
// fail naming the holder and the way out; a stale one is broken.
func TestHeldLock(t *testing.T) {
	ctx, db, conn := fresh(t, "migrate_locked")
	files := shipped(t)
	if _, err := migrate.Apply(ctx, conn, db, files[:1], migrate.Options{}); err != nil {
		t.Fatal(err)
	}
	hold := func(since time.Time) {
		t.Helper()
		comment := fmt.Sprintf("held by other-host pid 42 since %s", since.UTC().Format(time.RFC3339))
		if err := conn.Exec(ctx, "CREATE TABLE "+db+".schema_migrations_lock (holder String) ENGINE = Null COMMENT '"+comment+"'"); err != nil {
			t.Fatal(err)
		}
	}
	hold(time.Now())
	_, err := migrate.Apply(ctx, conn, db, files, migrate.Options{LockTimeout: time.Second})
	if !errors.Is(err, migrate.ErrLocked) || !strings.Contains(err.Error(), "other-host pid 42") || !strings.Contains(err.Error(), "DROP TABLE "+db+".schema_migrations_lock") {
		t.Fatalf("Apply under a held lock: %v", err)
	}
	if rec, _ := migrate.Recorded(ctx, conn, db); len(rec) != 1 {
		t.Fatalf("applied under a held lock: %v", rec)
	}

	if err := conn.Exec(ctx, "DROP TABLE "+db+".schema_migrations_lock"); err != nil {
		t.Fatal(err)
	}
	hold(time.Now().Add(-time.Hour))
	done, err := migrate.Apply(ctx, conn, db, files, migrate.Options{LockTimeout: time.Second})
	if err != nil || len(done) != len(files)-1 {
		t.Fatalf("Apply over a stale lock: %v, %v", done, err)
	}
}
