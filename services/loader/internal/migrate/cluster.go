package migrate

import (
	"fmt"
	"regexp"
	"strings"
)

// A Renderer turns the migrations' statements, written for one ClickHouse
// server, into the statements of a target: the same on a single server
// (Cluster empty), or for a ClickHouse cluster whose name is Cluster
// (CLICKHOUSE_CLUSTER). On a cluster every statement runs ON CLUSTER, and a
// table keeps its name for analysts, dbt and the loader while its data moves
// to replicated tables:
//
//   - A MergeTree-family table with a uuid column becomes <table>_local,
//     Replicated<Engine> with the Keeper path
//     /clickhouse/tables/{shard}/<db>/<table>_local and replica {replica},
//     and <table> becomes a Distributed table over it sharded by
//     cityHash64(uuid): every ping of an instance — so every copy of a ping,
//     and its metric rows — lands on one shard, where ReplacingMergeTree and
//     FINAL collapse duplicates exactly as on one server.
//   - Any other MergeTree-family table (small tables without an instance,
//     such as schema_migrations) is replicated whole to every host: Keeper
//     path /clickhouse/tables/all/<db>/<table>, no Distributed table.
//   - non_replicated_deduplication_window is dropped (replicated tables
//     deduplicate inserts by themselves).
//   - Views, ALTER TABLE and DROP follow the tables: an ALTER of a sharded
//     table alters <table>_local, and its Distributed table too when it
//     changes columns.
//
// Statements of other kinds cannot be rendered for a cluster and are an
// error naming the statement: a migration author learns it before any
// operator does. A Renderer keeps the tables created by earlier statements,
// so one Renderer renders all files in order.
type Renderer struct {
	DB      string
	Cluster string
	sharded map[string]bool // table → sharded by uuid (false: replicated whole)
}

// NewRenderer renders statements for database db, on cluster when it is not
// empty.
func NewRenderer(db, cluster string) *Renderer {
	return &Renderer{DB: db, Cluster: cluster, sharded: map[string]bool{}}
}

// clusterName is a cluster name Render accepts: what remote_servers allows.
var clusterName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// Validate reports a cluster name that cannot be written into DDL as is.
func (r *Renderer) Validate() error {
	if r.Cluster != "" && !clusterName.MatchString(r.Cluster) {
		return fmt.Errorf("cluster name %q: want letters, digits, '_', '.' or '-'", r.Cluster)
	}
	return nil
}

// Render returns f's statements for the target.
func (r *Renderer) Render(f File) ([]string, error) {
	var out []string
	for i, st := range f.Statements(r.DB) {
		sts, err := r.Statement(st)
		if err != nil {
			return nil, fmt.Errorf("migration %s statement %d: %w", f.Name, i+1, err)
		}
		out = append(out, sts...)
	}
	return out, nil
}

var (
	createDatabase = regexp.MustCompile(`(?is)^(CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?[A-Za-z_][A-Za-z0-9_]*)(.*)$`)
	createTable    = regexp.MustCompile(`(?is)^(CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?)([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*(\(.*)$`)
	createView     = regexp.MustCompile(`(?is)^(CREATE\s+(?:OR\s+REPLACE\s+)?(?:MATERIALIZED\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*)(\s.*)$`)
	alterTable     = regexp.MustCompile(`(?is)^(ALTER\s+TABLE\s+)([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)(\s.*)$`)
	dropStatement  = regexp.MustCompile(`(?is)^(DROP\s+(?:TABLE|VIEW|DICTIONARY)\s+(?:IF\s+EXISTS\s+)?)([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)(.*)$`)
	engineClause   = regexp.MustCompile(`(?is)^\s*ENGINE\s*=\s*([A-Za-z]*)MergeTree\b(?:\s*\(([^()]*)\))?(.*)$`)
	noReplicaDedup = regexp.MustCompile(`(?i)\s*,?\s*non_replicated_deduplication_window\s*=\s*\d+`)
	emptySettings  = regexp.MustCompile(`(?is)\s*SETTINGS\s*$`)
	leadingComma   = regexp.MustCompile(`(?i)SETTINGS\s*,\s*`)
	columnChange   = regexp.MustCompile(`(?i)^\s*(ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b`)
)

// onCluster is the ON CLUSTER clause.
func (r *Renderer) onCluster() string { return " ON CLUSTER " + r.Cluster }

// Statement renders one statement of database r.DB.
func (r *Renderer) Statement(st string) ([]string, error) {
	if r.Cluster == "" {
		if m := createTable.FindStringSubmatch(st); m != nil {
			r.sharded[m[3]] = false
		}
		return []string{st}, nil
	}
	if m := createDatabase.FindStringSubmatch(st); m != nil {
		return []string{m[1] + r.onCluster() + m[2]}, nil
	}
	if m := createTable.FindStringSubmatch(st); m != nil {
		return r.createTable(m[1], m[2], m[3], m[4])
	}
	if m := createView.FindStringSubmatch(st); m != nil {
		return []string{m[1] + r.onCluster() + m[2]}, nil
	}
	if m := alterTable.FindStringSubmatch(st); m != nil {
		out := []string{m[1] + m[2] + "." + r.local(m[3]) + r.onCluster() + m[4]}
		if r.sharded[m[3]] && columnChange.MatchString(m[4]) {
			out = append(out, m[1]+m[2]+"."+m[3]+r.onCluster()+m[4])
		}
		return out, nil
	}
	if m := dropStatement.FindStringSubmatch(st); m != nil {
		out := []string{m[1] + m[2] + "." + m[3] + r.onCluster() + m[4]}
		if r.sharded[m[3]] {
			out = append(out, m[1]+m[2]+"."+m[3]+"_local"+r.onCluster()+m[4])
		}
		delete(r.sharded, m[3])
		return out, nil
	}
	return nil, fmt.Errorf("cannot be rendered for a cluster (only CREATE DATABASE/TABLE/VIEW, ALTER TABLE and DROP are): %.80q", st)
}

// local is the table holding table's rows on a cluster.
func (r *Renderer) local(table string) string {
	if r.sharded[table] {
		return table + "_local"
	}
	return table
}

// createTable renders CREATE TABLE <prefix><db>.<table> <rest>, where rest
// starts with the column list.
func (r *Renderer) createTable(prefix, db, table, rest string) ([]string, error) {
	end, err := closingParen(rest)
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", db, table, err)
	}
	columns, tail := rest[:end+1], rest[end+1:]
	e := engineClause.FindStringSubmatch(tail)
	if e == nil {
		return nil, fmt.Errorf("table %s.%s: only MergeTree-family engines can be rendered for a cluster", db, table)
	}
	family, args, after := e[1], strings.TrimSpace(e[2]), e[3]
	if strings.HasPrefix(family, "Replicated") {
		return nil, fmt.Errorf("table %s.%s: already Replicated; migrations are written for one server", db, table)
	}
	sharded := hasColumn(columns, "uuid")
	r.sharded[table] = sharded
	name, path := table, "/clickhouse/tables/all/"+db+"/"+table
	if sharded {
		name, path = table+"_local", "/clickhouse/tables/{shard}/"+db+"/"+table+"_local"
	}
	engineArgs := "'" + path + "', '{replica}'"
	if args != "" {
		engineArgs += ", " + args
	}
	after = noReplicaDedup.ReplaceAllString(after, "")
	after = emptySettings.ReplaceAllString(leadingComma.ReplaceAllString(after, "SETTINGS "), "")
	out := []string{prefix + db + "." + name + r.onCluster() + "\n" + columns + "\nENGINE = Replicated" + family + "MergeTree(" + engineArgs + ")" + after}
	if sharded {
		out = append(out, fmt.Sprintf("%s%s.%s%s AS %s.%s\nENGINE = Distributed(%s, %s, %s, cityHash64(uuid))",
			prefix, db, table, r.onCluster(), db, name, r.Cluster, db, name))
	}
	return out, nil
}

// hasColumn says whether the column list "(…)" defines column name.
func hasColumn(columns, name string) bool {
	inner := columns[1 : len(columns)-1]
	depth, start := 0, 0
	for i := 0; i <= len(inner); i++ {
		if i < len(inner) {
			switch c := inner[i]; c {
			case '(':
				depth++
				continue
			case ')':
				depth--
				continue
			case '\'', '"', '`':
				for i++; i < len(inner) && inner[i] != c; i++ {
					if inner[i] == '\\' {
						i++
					}
				}
				continue
			case ',':
				if depth > 0 {
					continue
				}
			default:
				continue
			}
		}
		if f := strings.Fields(inner[start:min(i, len(inner))]); len(f) > 0 && strings.Trim(f[0], "`\"") == name {
			return true
		}
		start = i + 1
	}
	return false
}

// closingParen is the index of the parenthesis closing the one s starts
// with, skipping quoted text.
func closingParen(s string) (int, error) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i, nil
			}
		case '\'', '"', '`':
			for i++; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		}
	}
	return 0, fmt.Errorf("unbalanced parentheses in the column list")
}
