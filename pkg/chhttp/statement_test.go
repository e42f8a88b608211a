package chhttp

import "testing"

func TestScanStatement(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text string
		want       statement
		data       string
	}{
		{"select", "SELECT 1", statement{kind: kindSelect, dataOffset: -1}, ""},
		{"select format", "SELECT 1 FORMAT JSON", statement{kind: kindSelect, format: "JSON", dataOffset: -1}, ""},
		{"select format settings", "SELECT 1 FORMAT CSV SETTINGS max_threads = 1;", statement{kind: kindSelect, format: "CSV", dataOffset: -1}, ""},
		{"format column is not a clause", "SELECT format FROM t", statement{kind: kindSelect, dataOffset: -1}, ""},
		{"format in subquery", "SELECT * FROM (SELECT 1 FORMAT JSON) ", statement{kind: kindSelect, dataOffset: -1}, ""},
		{"with", "WITH 1 AS x SELECT x", statement{kind: kindSelect, dataOffset: -1}, ""},
		{"parenthesized", "(SELECT 1) UNION ALL (SELECT 2)", statement{kind: kindSelect, dataOffset: -1}, ""},
		{"ddl", "CREATE TABLE t (format String) ENGINE = Memory", statement{kind: kindDDL, dataOffset: -1}, ""},
		{"insert format", "INSERT INTO t (a, format) FORMAT Native\n\x00\x01 binary", statement{kind: kindInsert, format: "Native", sql: "INSERT INTO t (a, format) "}, "\x00\x01 binary"},
		{"insert keeps blanks after the newline", "INSERT INTO t FORMAT TSV  \n  a\tb\n", statement{kind: kindInsert, format: "TSV", sql: "INSERT INTO t "}, "  a\tb\n"},
		{"insert data on the same line", "insert into t format CSV 1,2", statement{kind: kindInsert, format: "CSV", sql: "insert into t "}, "1,2"},
		{"insert settings", "INSERT INTO t SETTINGS async_insert = 0 FORMAT JSONEachRow\n{}", statement{kind: kindInsert, format: "JSONEachRow", sql: "INSERT INTO t SETTINGS async_insert = 0 "}, "{}"},
		{"insert values", "INSERT INTO t VALUES (1, 'FORMAT x')", statement{kind: kindInsert, format: "Values", sql: "INSERT INTO t "}, " (1, 'FORMAT x')"},
		{"insert select", "INSERT INTO t SELECT * FROM u", statement{kind: kindOther, dataOffset: -1}, ""},
		{"insert without data yet", "INSERT INTO t", statement{kind: kindInsert, dataOffset: -1}, ""},
		{"comments and quotes", "/* FORMAT x */ -- FORMAT y\nINSERT INTO `FORMAT` FORMAT CSV\n1", statement{kind: kindInsert, format: "CSV", sql: "/* FORMAT x */ -- FORMAT y\nINSERT INTO `FORMAT` "}, "1"},
		{"set", "SET max_threads = 1", statement{kind: kindOther, dataOffset: -1}, ""},
		{"empty", "  ", statement{kind: kindOther, dataOffset: -1}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := scanStatement([]byte(tc.text))
			data := ""
			if got.dataOffset >= 0 {
				data = tc.text[got.dataOffset:]
				got.dataOffset = 0
			}
			if got != tc.want || data != tc.data {
				t.Fatalf("scanStatement(%q) = %+v data %q, want %+v data %q", tc.text, got, data, tc.want, tc.data)
			}
		})
	}
}

func TestIsHello(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]bool{
		"SELECT displayName(), version(), revision(), timezone()":      true,
		"select  displayName(),\n version(), revision(), timezone() ;": true,
		"SELECT displayName(), version(), revision()":                  false,
	} {
		if got := isHello(text); got != want {
			t.Errorf("isHello(%q) = %v", text, got)
		}
	}
}
