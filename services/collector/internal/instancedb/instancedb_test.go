package instancedb

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/serviceping/serviceping/services/collector/internal/testdeps"
)

// TestApplyAddsMissingColumns applies the schema to a database whose
// application_settings and projects were created before most of their
// columns existed: every column of the schema is added, with GitLab's
// defaults filled into the existing row, and a second Apply changes
// nothing.
func TestApplyAddsMissingColumns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := testdeps.Postgres(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE application_settings (id bigserial PRIMARY KEY, signup_enabled boolean);
INSERT INTO application_settings (signup_enabled) VALUES (true);
CREATE TABLE projects (id bigserial PRIMARY KEY, name text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := Apply(ctx, pool); err != nil {
			t.Fatal(err)
		}
	}
	live := map[string][]string{}
	rows, err := pool.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		live[table] = append(live[table], col)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, table := range Expected().Tables {
		for _, c := range table.Columns {
			if !slices.Contains(live[table.Name], c) {
				t.Errorf("%s.%s missing after Apply", table.Name, c)
			}
		}
	}
	if n := len(live["application_settings"]); n < 500 {
		t.Errorf("application_settings has %d columns, want GitLab's (over 500)", n)
	}
	var signup, numberRequired bool
	var attachment, minPassword int
	if err := pool.QueryRow(ctx, `SELECT signup_enabled, password_number_required, max_attachment_size, minimum_password_length
FROM application_settings`).Scan(&signup, &numberRequired, &attachment, &minPassword); err != nil {
		t.Fatal(err)
	}
	if !signup || numberRequired || attachment != 100 || minPassword != 8 {
		t.Errorf("existing row after Apply: signup_enabled %v, password_number_required %v, max_attachment_size %d, minimum_password_length %d; want true, false, 100, 8 (GitLab's defaults)",
			signup, numberRequired, attachment, minPassword)
	}
}

// TestSeedFillsEveryTable seeds an instance twice: every table of the
// schema but geo_nodes has rows (those without a written statement Counts.Filled of
// them), a filled table's references stay within the table they name
// (path_locks.project_id among the projects, epics.group_id among the
// groups), a column listing its values takes them in turn, and the two
// seeds are the same row for row.
func TestSeedFillsEveryTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := testdeps.Postgres(t)
	if err := Apply(ctx, pool); err != nil {
		t.Fatal(err)
	}
	ref := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	digest := func() map[string]string {
		t.Helper()
		c, err := Seed(ctx, pool, Size{Builds: 2000}, ref)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, table := range Expected().Tables {
			var n int
			var sum string
			if err := pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*), md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), '')) FROM %s t`, table.Name)).Scan(&n, &sum); err != nil {
				t.Fatal(err)
			}
			if (n == 0) != (table.Name == "geo_nodes") {
				t.Errorf("%s has %d rows (only geo_nodes is left empty: no Geo site)", table.Name, n)
			}
			out[table.Name] = sum
		}
		for _, q := range []struct {
			sql  string
			want int
		}{
			{`SELECT count(*) FROM path_locks`, c.Filled},
			{fmt.Sprintf(`SELECT count(*) FROM path_locks WHERE project_id BETWEEN 1 AND %d AND user_id BETWEEN 1 AND %d`, c.Projects, c.Users), c.Filled},
			{fmt.Sprintf(`SELECT count(*) FROM epics WHERE group_id BETWEEN %d AND %d AND author_id <= %d`, c.Users+1, c.Namespaces, c.Users), c.Filled},
			{`SELECT count(DISTINCT confidential) FROM epics`, 2},
			// A column's listed values in turn: a quarter of the
			// identities are LDAP ones; members' type and source_type
			// (as many values each) stay paired.
			{`SELECT count(*) FROM identities WHERE provider LIKE 'ldap%'`, c.Filled / 4},
			{`SELECT count(DISTINCT provider) FROM identities`, 4},
			{`SELECT count(*) FROM members WHERE (type = 'GroupMember') <> (source_type = 'Namespace')`, 0},
			{`SELECT count(DISTINCT type) FROM members`, 2},
			{`SELECT count(*) FROM jira_imports WHERE status = 4`, c.Filled / 5},
			// parent_id: trees of three, a root every third row.
			{`SELECT count(*) FROM epics WHERE parent_id IS NULL`, (c.Filled + 2) / 3},
			{`SELECT count(*) FROM epics e JOIN epics p ON p.id = e.parent_id JOIN epics r ON r.id = p.parent_id WHERE r.parent_id IS NULL`, c.Filled / 3},
			// A key other than id: one row a key.
			{`SELECT count(DISTINCT project_id) FROM container_expiration_policies`, c.Filled},
		} {
			var got int
			if err := pool.QueryRow(ctx, q.sql).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != q.want {
				t.Errorf("%s = %d, want %d", q.sql, got, q.want)
			}
		}
		return out
	}
	first, second := digest(), digest()
	for table, sum := range first {
		if second[table] != sum {
			t.Errorf("%s differs between two seeds", table)
		}
	}
}
