package chdb_test

import (
	"context"
	"errors"
	"testing"

	"github.com/serviceping/serviceping/pkg/chdb"
)

// TestReadOnly: a request's ReadOnly holds for its statement only; the
// engine refuses writes under both levels, and setting changes and table
// functions under 1, and the connection serves writes again afterwards.
func TestReadOnly(t *testing.T) {
	e := open(t, t.TempDir())
	ctx := context.Background()
	c := connect(t, e)
	if err := c.Set(ctx, map[string]string{"max_block_size": "4321"}); err != nil {
		t.Fatal(err)
	}
	exec(t, c, "CREATE TABLE default.ro (x Int32) ENGINE = MergeTree ORDER BY x")
	defaults := map[string]string{"max_result_rows": "1000"}
	run := func(level int, sql string, settings map[string]string) (string, error) {
		res, err := c.Exec(ctx, chdb.Request{SQL: sql, ReadOnly: level, Defaults: defaults, Settings: settings})
		if err != nil {
			return "", err
		}
		return string(res.Data), nil
	}
	readonly := func(err error) bool {
		var ce *chdb.Error
		return errors.As(err, &ce) && ce.Code == 164
	}
	for _, tc := range []struct {
		level    int
		sql      string
		settings map[string]string
		want     string // "" : refused with 164
	}{
		{1, "SELECT getSetting('readonly'), getSetting('max_result_rows'), getSetting('max_block_size')", nil, "1\t1000\t4321\n"},
		{1, "SELECT count() FROM default.ro", nil, "0\n"},
		{1, "INSERT INTO default.ro VALUES (1)", nil, ""},
		{1, "DROP TABLE default.ro", nil, ""},
		{1, "SELECT * FROM file('/etc/hostname', 'LineAsString')", nil, ""},
		{1, "SELECT 1", map[string]string{"max_threads": "3"}, ""},
		{1, "SELECT 1", map[string]string{"max_result_rows": "1000"}, "1\n"}, // unchanged: allowed, as in ClickHouse
		{1, "SELECT 1 SETTINGS max_threads = 3", nil, ""},
		{1, "SELECT 1", map[string]string{"readonly": "0"}, ""},
		{2, "INSERT INTO default.ro VALUES (1)", nil, ""},
		{2, "SELECT getSetting('readonly'), getSetting('max_threads')", map[string]string{"max_threads": "3"}, "2\t3\n"},
		{2, "SELECT 1", map[string]string{"readonly": "0"}, ""},
	} {
		got, err := run(tc.level, tc.sql, tc.settings)
		switch {
		case tc.want == "" && !readonly(err):
			t.Errorf("readonly=%d %s %v: got %q, %v; want code 164", tc.level, tc.sql, tc.settings, got, err)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("readonly=%d %s %v: got %q, %v; want %q", tc.level, tc.sql, tc.settings, got, err, tc.want)
		}
	}
	// The caller's own settings are not the request's: readonly mode does
	// not check them.
	res, err := c.Exec(ctx, chdb.Request{SQL: "SELECT getSetting('max_threads')", ReadOnly: 1, Overrides: map[string]string{"max_threads": "3"},
		Settings: map[string]string{"max_threads": "5"}})
	if err != nil || string(res.Data) != "3\n" {
		t.Fatalf("overrides under readonly: %q, %v", res.Data, err)
	}
	// The connection is back to the session's settings, and writes.
	exec(t, c, "INSERT INTO default.ro VALUES (1)")
	if got := exec(t, c, "SELECT getSetting('readonly'), getSetting('max_block_size'), count() FROM default.ro"); got != "0\t4321\t1\n" {
		t.Fatalf("after the read-only statements: %q", got)
	}
}
