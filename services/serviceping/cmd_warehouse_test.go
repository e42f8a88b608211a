package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFindChDBLib: CHDB_LIB when it is a file, else the cache of
// scripts/fetch-chdb.sh, else an error naming `make chdb`.
func TestFindChDBLib(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// lay out caches the way scripts/fetch-chdb.sh fills them
	lib := func(parts ...string) string {
		p := filepath.Join(append([]string{dir}, parts...)...)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not really a library"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	explicit := lib("elsewhere", "libchdb.so")
	spCache := lib("sp", "chdb", chdbVersion, "libchdb.so")
	xdgCache := lib("xdg", "serviceping", "chdb", chdbVersion, "libchdb.so")
	homeCache := lib("home", ".cache", "serviceping", "chdb", chdbVersion, "libchdb.so")
	otherVersion := lib("sp", "chdb", "25.1.0", "libchdb.so")
	if err := os.MkdirAll(filepath.Join(dir, "dirlib", "chdb", chdbVersion, "libchdb.so"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")

	cases := []struct {
		name string
		lib  string
		env  map[string]string
		want string // the path, or a part of the error
	}{
		{"CHDB_LIB", explicit, map[string]string{"SERVICEPING_CACHE": filepath.Join(dir, "sp")}, explicit},
		{"SERVICEPING_CACHE", "", map[string]string{"SERVICEPING_CACHE": filepath.Join(dir, "sp"), "XDG_CACHE_HOME": filepath.Join(dir, "xdg")}, spCache},
		{"XDG_CACHE_HOME", "", map[string]string{"XDG_CACHE_HOME": filepath.Join(dir, "xdg"), "HOME": filepath.Join(dir, "home")}, xdgCache},
		{"HOME", "", map[string]string{"HOME": filepath.Join(dir, "home")}, homeCache},
		{"CHDB_VERSION", "", map[string]string{"SERVICEPING_CACHE": filepath.Join(dir, "sp"), "CHDB_VERSION": "25.1.0"}, otherVersion},
		{"CHDB_LIB missing, cached", filepath.Join(dir, "gone.so"), map[string]string{"SERVICEPING_CACHE": filepath.Join(dir, "sp")}, spCache},
		{"nothing cached", "", map[string]string{"SERVICEPING_CACHE": empty}, "is not at " + filepath.Join(empty, "chdb", chdbVersion, "libchdb.so") + " (CHDB_LIB is not set): run `make chdb`"},
		{"CHDB_LIB missing, nothing cached", filepath.Join(dir, "gone.so"), map[string]string{"SERVICEPING_CACHE": empty}, "neither at CHDB_LIB=" + filepath.Join(dir, "gone.so") + " nor at " + empty},
		{"a directory is no library", "", map[string]string{"SERVICEPING_CACHE": filepath.Join(dir, "dirlib")}, "run `make chdb`"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := findChDBLib(c.lib, func(k string) string { return c.env[k] })
			if err != nil {
				got = err.Error()
				if !strings.Contains(got, "run `make chdb`") {
					t.Errorf("error %q does not name make chdb", got)
				}
			}
			if !strings.Contains(got, c.want) || (err == nil && got != c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestChDBVersionMatchesScript: the Go lookup and scripts/fetch-chdb.sh
// agree on the pinned chDB version, so `make chdb` caches what run finds.
func TestChDBVersionMatchesScript(t *testing.T) {
	t.Parallel()
	if got := scriptPin(t, "fetch-chdb.sh", "CHDB_VERSION"); got != chdbVersion {
		t.Errorf("scripts/fetch-chdb.sh pins %s, chdbVersion is %s", got, chdbVersion)
	}
}

// scriptPin returns the version that script, under scripts/, pins in its
// NAME=${NAME:-VERSION} line.
func scriptPin(t *testing.T, script, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../scripts", script))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `=\$\{` + name + `:-([^}]+)\}$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("scripts/%s: no %s=${%s:-…} line", script, name, name)
	}
	return string(m[1])
}
