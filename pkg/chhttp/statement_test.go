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
		{"dollar-quoted parameter name", "SELECT {$x$:String} AS v FORMAT Native", statement{kind: kindSelect, format: "Native", dataOffset: -1}, ""},
		{"heredoc", "SELECT $a$ FORMAT x $a$ FORMAT TSV", statement{kind: kindSelect, format: "TSV", dataOffset: -1}, ""},
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

func TestMultiStatementAt(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]int{
		"SELECT 1":                  -1,
		"SELECT 1;":                 -1,
		"SELECT 1; -- done\n":       -1,
		"SELECT 1 ; /* done */ ;":   -1,
		"SELECT 1; SELECT 2":        8,
		"SELECT ';'; SELECT 2":      10,
		"SELECT $$;$$, $a$;$a$; x":  21,
		"SELECT {$x$:String}; 1":    19,
		"SELECT `a;b`, \"c;d\" ; 1": 20,
	} {
		if got := multiStatementAt([]byte(text)); got != want {
			t.Errorf("multiStatementAt(%q) = %d, want %d", text, got, want)
		}
	}
}

func TestParseSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want map[string]string
	}{
		{"SET max_threads = 1", map[string]string{"max_threads": "1"}},
		{"set a = 'x, y', b = -2.5;", map[string]string{"a": "'x, y'", "b": "-2.5"}},
		{"SET a = [1, 2], b = DEFAULT", map[string]string{"a": "[1, 2]", "b": "DEFAULT"}},
		{"SET param_p = 'v'", map[string]string{"param_p": "'v'"}},
		{"SET ROLE admin", nil},
		{"SET DEFAULT ROLE NONE TO u", nil},
		{"SET a = ", nil},
		{"SET a = 1; SELECT 2", nil},
		{"SELECT 1", nil},
	}
	for _, tc := range tests {
		got, ok := parseSet([]byte(tc.text))
		if ok != (tc.want != nil) || len(got) != len(tc.want) {
			t.Errorf("parseSet(%q) = %v %v, want %v", tc.text, got, ok, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("parseSet(%q)[%s] = %q, want %q", tc.text, k, got[k], v)
			}
		}
	}
}

func TestStatementVerbs(t *testing.T) {
	t.Parallel()
	for text, want := range map[string][2]bool{ // streams, creates temporary
		"SELECT 1":                                 {true, false},
		"with x AS (SELECT 1) SELECT * FROM x":     {true, false},
		"(SELECT 1) UNION ALL (SELECT 2)":          {true, false},
		"/* c */ SELECT 1":                         {true, false},
		"SHOW TABLES":                              {false, false},
		"CREATE TEMPORARY TABLE t (x UInt8)":       {false, true},
		"create or replace temporary table t AS 1": {false, true},
		"CREATE TABLE temporary (x UInt8)":         {false, false},
	} {
		if s, c := streams([]byte(text)), createsTemporary([]byte(text)); s != want[0] || c != want[1] {
			t.Errorf("%q: streams %v, creates temporary %v; want %v", text, s, c, want)
		}
	}
}
