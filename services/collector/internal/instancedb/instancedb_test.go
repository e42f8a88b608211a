package instancedb

import (
	"context"
	"slices"
	"testing"

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
