package dbttest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/loader/warehouse"
)

// TestDBTMartsFleet loads the hand-written fleet (testdata/fleet: CSV files
// and the SQL that loads them) into a fresh warehouse database and runs
// `make dbt` with DBT_VARS='{fleet_fixture: true}', which enables the
// fleet's singular tests (dbt/tests/fleet) and their hand-computed figures
// (dbt/seeds/fleet): every one of them must run and pass, besides every
// model and generic test.
func TestDBTMartsFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	testinfra.Env(t, "SERVICEPING_DBT")
	endpoint := chtest.Endpoint(t)

	srcDB := chtest.Database(t, "dbt_fleet_src")
	sink, err := warehouse.Open(ctx, chtest.URL(t, srcDB), warehouse.Options{}) // the migrations
	if err != nil {
		t.Fatal(err)
	}
	sink.Close()
	conn := chtest.Conn(t, srcDB)
	stmts := fleetStatements(t, srcDB)
	for i, stmt := range stmts {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("fleet.sql statement %d: %v\n%s", i+1, err, tail(stmt, 2000))
		}
	}
	if len(stmts) == 0 {
		t.Fatal("fleet.sql has no statements")
	}

	martDB := chtest.Database(t, "dbt_fleet_analytics")
	res := runDBT(ctx, t, endpoint, srcDB, martDB, "{fleet_fixture: true}")
	t.Logf("make dbt on the fleet: %s", res.summary)

	want := fleetDirFiles(t, "tests", ".sql")
	slices.Sort(res.fleetTests)
	if len(want) == 0 || !slices.Equal(res.fleetTests, want) {
		t.Errorf("fleet tests run = %v, want every file of dbt/tests/fleet: %v", res.fleetTests, want)
	}

	mart := chtest.Conn(t, martDB)
	for _, m := range marts {
		if n := chtest.Count(t, mart, "SELECT count() FROM "+m); n == 0 {
			t.Errorf("%s is empty on the fleet", m)
		}
	}
}
