package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/serviceping/serviceping/services/loader/warehouse"
)

// migrateCmd applies the warehouse's schema migrations on their own: what a
// deployment runs once (a Job, a one-shot container) before its loaders,
// which then start with LOADER_MIGRATE=false.
type migrateCmd struct {
	warehouseURL
	Cluster string `name:"cluster" env:"CLICKHOUSE_CLUSTER" placeholder:"NAME" help:"ClickHouse cluster: migrate ON CLUSTER with replicated and Distributed tables (docs/cluster.md)."`
}

func (c *migrateCmd) Run(ctx context.Context, e *env) error {
	db, done, err := warehouse.MigrateURL(ctx, c.ClickHouse, c.Cluster, e.log)
	if err != nil {
		return err
	}
	where := db
	if c.Cluster != "" {
		where += " on cluster " + c.Cluster
	}
	if len(done) == 0 {
		fmt.Fprintf(e.stdout, "%s is up to date\n", where)
		return nil
	}
	fmt.Fprintf(e.stdout, "applied to %s: %s\n", where, strings.Join(done, ", "))
	return nil
}
