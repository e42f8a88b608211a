// Package migrate applies the warehouse's numbered SQL migrations
// (deploy/clickhouse, NNNN_name.sql) to a ClickHouse database and records
// them in <database>.schema_migrations, refusing to go on when a file that
// was applied has changed since.
package migrate

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DefaultDatabase is the database the files name (docs/contracts.md,
// "Warehouse (ClickHouse)").
const DefaultDatabase = "serviceping"

// ErrChecksum is wrapped when an applied migration's file changed.
var ErrChecksum = errors.New("applied migration changed")

// File is one migration.
type File struct {
	Version  uint32
	Name     string // file name, e.g. 0001_pings.sql
	Checksum string // hex SHA-256 of the file as shipped
	SQL      string
}

var fileName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// Files reads the migrations of fsys (its top directory), ordered by
// version. Names must be NNNN_name.sql with unique versions.
func Files(fsys fs.FS) ([]File, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var out []File
	seen := map[uint32]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s: want a name like 0001_name.sql", e.Name())
		}
		v, _ := strconv.ParseUint(m[1], 10, 32)
		if prev, ok := seen[uint32(v)]; ok {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[uint32(v)] = e.Name()
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(data)
		out = append(out, File{Version: uint32(v), Name: e.Name(), Checksum: hex.EncodeToString(sum[:]), SQL: string(data)})
	}
	slices.SortFunc(out, func(a, b File) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// filesDB matches the database the files name, as a qualifier.
var filesDB = regexp.MustCompile(`\b` + DefaultDatabase + `\.`)

// Statements splits a migration into its statements, without comments,
// in database db (the files name DefaultDatabase; any other name
// replaces it).
func (f File) Statements(db string) []string {
	var out []string
	for _, st := range Split(f.SQL) {
		if db != DefaultDatabase {
			st = filesDB.ReplaceAllLiteralString(st, db+".")
		}
		out = append(out, st)
	}
	return out
}

// Split splits SQL text on semicolons outside quotes and comments, drops
// comments, and returns the non-empty statements, trimmed.
func Split(sql string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
			cur.WriteByte('\n')
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				i = len(sql)
			} else {
				i += 2 + end + 1
			}
			cur.WriteByte(' ')
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < len(sql) {
				if sql[j] == '\\' {
					j += 2
					continue
				}
				if sql[j] == c {
					break
				}
				j++
			}
			end := min(j+1, len(sql))
			cur.WriteString(sql[i:end])
			i = end - 1
		case c == ';':
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}

// Applied is a recorded migration.
type Applied struct {
	Version  uint32
	Name     string
	Checksum string
}

// SetupStatements prepare database db for its migrations, on one server:
// the database and the table recording what was applied.
func SetupStatements(db string) []string {
	return []string{"CREATE DATABASE IF NOT EXISTS " + db, `CREATE TABLE IF NOT EXISTS ` + db + `.schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version`}
}

// Options of Apply.
type Options struct {
	// Cluster, when set, renders every statement for that ClickHouse
	// cluster (see Renderer); empty: one server.
	Cluster string
	// LockTimeout bounds the wait for another runner's lock; default
	// DefaultLockTimeout.
	LockTimeout time.Duration
	Logger      *slog.Logger
}

// Apply creates database db when missing, then, holding db's migration
// lock (so that two runners never apply at once), applies the files not
// yet recorded in db.schema_migrations, in order, statement by statement,
// recording each file once all its statements succeeded. It fails before
// applying anything when a recorded file's checksum differs from the
// shipped one, or when a file cannot be rendered for the target. It
// returns the names of the files it applied. Statements must be
// idempotent: a crash between applying a file and recording it applies the
// file again at the next start.
func Apply(ctx context.Context, conn driver.Conn, db string, files []File, opts Options) (done []string, err error) {
	if !identifier.MatchString(db) {
		return nil, fmt.Errorf("migrate: database name %q is not a plain identifier", db)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := NewRenderer(db, opts.Cluster)
	if err := r.Validate(); err != nil {
		return nil, err
	}
	// Every file is rendered first: the renderer learns the tables of the
	// applied ones, and a file that cannot be rendered stops the run before
	// anything is applied.
	rendered := make([][]string, len(files))
	for i, f := range files {
		if rendered[i], err = r.Render(f); err != nil {
			return nil, err
		}
	}
	setup := SetupStatements(db)
	for _, st := range setup {
		sts, err := r.Statement(st)
		if err != nil {
			return nil, err
		}
		for _, st := range sts {
			if err := conn.Exec(ctx, st); err != nil {
				return nil, fmt.Errorf("prepare database %s: %w", db, err)
			}
		}
	}
	timeout := cmp.Or(opts.LockTimeout, DefaultLockTimeout)
	l, err := acquireLock(ctx, conn, r, timeout, log)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, l.release(ctx)) }()

	applied, err := Recorded(ctx, conn, db)
	if err != nil {
		return nil, err
	}
	byVersion := map[uint32]Applied{}
	for _, a := range applied {
		byVersion[a.Version] = a
	}
	shipped := map[uint32]bool{}
	var errs []error
	for _, f := range files {
		shipped[f.Version] = true
		if a, ok := byVersion[f.Version]; ok && a.Checksum != f.Checksum {
			errs = append(errs, fmt.Errorf("%w: %s was applied to %s with checksum %s, the shipped file has %s; never edit an applied migration, add a new one",
				ErrChecksum, f.Name, db, a.Checksum, f.Checksum))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, a := range applied {
		if !shipped[a.Version] {
			log.Warn("database has a migration this binary does not ship; is it older than the schema?", "database", db, "migration", a.Name)
		}
	}
	for i, f := range files {
		if _, ok := byVersion[f.Version]; ok {
			continue
		}
		for j, st := range rendered[i] {
			if err := conn.Exec(ctx, st); err != nil {
				return done, fmt.Errorf("apply migration %s statement %d: %w", f.Name, j+1, err)
			}
		}
		if err := conn.Exec(ctx, `INSERT INTO `+db+`.schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`,
			f.Version, f.Name, f.Checksum, time.Now().UTC()); err != nil {
			return done, fmt.Errorf("record migration %s: %w", f.Name, err)
		}
		log.Info("applied migration", "database", db, "migration", f.Name, "cluster", opts.Cluster)
		done = append(done, f.Name)
	}
	return done, nil
}

// Recorded lists the migrations recorded in db.schema_migrations.
func Recorded(ctx context.Context, conn driver.Conn, db string) ([]Applied, error) {
	rows, err := conn.Query(ctx, `SELECT version, name, checksum FROM `+db+`.schema_migrations FINAL ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("read %s.schema_migrations: %w", db, err)
	}
	defer rows.Close()
	var out []Applied
	for rows.Next() {
		var a Applied
		if err := rows.Scan(&a.Version, &a.Name, &a.Checksum); err != nil {
			return nil, fmt.Errorf("scan %s.schema_migrations: %w", db, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s.schema_migrations: %w", db, err)
	}
	return out, nil
}
