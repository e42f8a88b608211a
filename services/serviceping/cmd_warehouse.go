package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/chdb"
	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/services/serviceping/internal/warehouse"
)

type warehouseCmd struct {
	Listen string `env:"WAREHOUSE_LISTEN" default:"127.0.0.1:8123" placeholder:"ADDR" help:"ClickHouse HTTP listen address."`
	Path   string `env:"WAREHOUSE_PATH" default:"./data/clickhouse" placeholder:"DIR" help:"Engine data directory."`
	chdbLib
}

func (c *warehouseCmd) Run(ctx context.Context, e *env) error {
	if err := c.use(e); err != nil {
		return err
	}
	if err := os.MkdirAll(c.Path, 0o755); err != nil {
		return fmt.Errorf("create warehouse directory: %w", err)
	}
	s, err := warehouse.Open(c.Path, c.Listen, e.log, lifecycle.NewRegistry())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "embedded ClickHouse %s on %s (data in %s)\n", s.Version(), s.URL, c.Path)
	return s.Serve(ctx)
}

type queryCmd struct {
	SQL string `arg:"" name:"sql" help:"The query (quote it)."`
	warehouseURL
	Format string `default:"table" enum:"table,csv,json" placeholder:"FORMAT" help:"Output: table, csv or json (one object per line)."`
}

func (c *queryCmd) Run(ctx context.Context, e *env) error {
	conn, err := chconn.Open(ctx, c.ClickHouse)
	if err != nil {
		return err
	}
	defer conn.Close()
	t, err := warehouse.Query(ctx, conn, c.SQL)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return t.Write(e.stdout, warehouse.Format(c.Format))
}

// chdbVersion is the chDB version scripts/fetch-chdb.sh pins
// (CHDB_VERSION overrides both); a test keeps the two equal.
const chdbVersion = "26.7.3-stable.1"

// chdbLib is the embedded ClickHouse library, for the commands that start
// the engine.
type chdbLib struct {
	ChDBLib string `name:"chdb-lib" env:"CHDB_LIB" placeholder:"FILE" help:"libchdb.so; default: where make chdb cached it."`
}

// use finds libchdb.so and hands it to the engine, which reads CHDB_LIB.
func (c chdbLib) use(e *env) error {
	lib, err := findChDBLib(c.ChDBLib, os.Getenv)
	if err != nil {
		return err
	}
	if c.ChDBLib != "" && lib != c.ChDBLib {
		e.log.Warn("CHDB_LIB is not a file, using the cached library", "chdb_lib", c.ChDBLib, "using", lib)
	}
	return os.Setenv(chdb.LibEnv, lib)
}

// findChDBLib returns libchdb.so the way scripts/fetch-chdb.sh finds it:
// lib (CHDB_LIB) when that file exists, else the script's cache,
// <cache>/chdb/<CHDB_VERSION>/libchdb.so with <cache> $SERVICEPING_CACHE,
// $XDG_CACHE_HOME/serviceping or ~/.cache/serviceping. When it is nowhere
// the error names the command that fetches it.
func findChDBLib(lib string, getenv func(string) string) (string, error) {
	if lib != "" && isFile(lib) {
		return lib, nil
	}
	cached := filepath.Join(cacheRoot(getenv), "chdb", cmp.Or(getenv("CHDB_VERSION"), chdbVersion), "libchdb.so")
	if isFile(cached) {
		return cached, nil
	}
	if lib != "" {
		return "", fmt.Errorf("the embedded ClickHouse library is neither at CHDB_LIB=%s nor at %s: run `make chdb` to fetch it", lib, cached)
	}
	return "", fmt.Errorf("the embedded ClickHouse library is not at %s (CHDB_LIB is not set): run `make chdb` to fetch it", cached)
}

// cacheRoot is where the make targets keep downloads and builds:
// $SERVICEPING_CACHE, $XDG_CACHE_HOME/serviceping or ~/.cache/serviceping.
func cacheRoot(getenv func(string) string) string {
	if c := getenv("SERVICEPING_CACHE"); c != "" {
		return c
	}
	return filepath.Join(cmp.Or(getenv("XDG_CACHE_HOME"), filepath.Join(getenv("HOME"), ".cache")), "serviceping")
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
