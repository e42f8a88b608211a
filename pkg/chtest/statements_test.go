package chtest_test

import (
	"slices"
	"testing"
	"testing/fstest"

	"github.com/serviceping/serviceping/pkg/chtest"
)

func TestStatements(t *testing.T) {
	fsys := fstest.MapFS{
		"fleet/fleet.sql": {Data: []byte("-- a comment; with a semicolon\nCREATE TABLE serviceping.t (a String)\nENGINE = Memory;\n\n" +
			"-- load\nINSERT INTO serviceping.t SELECT a FROM format(CSVWithNames, {csv:t.csv});\n")},
		"fleet/t.csv": {Data: []byte("a\nit's\n")},
	}
	got, err := chtest.Statements(fsys, "fleet/fleet.sql", "db1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CREATE TABLE db1.t (a String)\nENGINE = Memory",
		"INSERT INTO db1.t SELECT a FROM format(CSVWithNames, 'a\nit\\'s\n')",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Statements = %q, want %q", got, want)
	}
	if _, err := chtest.Statements(fstest.MapFS{"x.sql": {Data: []byte("INSERT {csv:missing.csv};\n")}}, "x.sql", "db"); err == nil {
		t.Error("a missing CSV file gave no error")
	}
	if _, err := chtest.Statements(fstest.MapFS{"x.sql": {Data: []byte("-- nothing\n")}}, "x.sql", "db"); err == nil {
		t.Error("a file without statements gave no error")
	}
}
