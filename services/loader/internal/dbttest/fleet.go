package dbttest

import (
	"embed"

	"github.com/serviceping/serviceping/pkg/chtest"
)

// fleetFiles is testdata/fleet: fleet.sql and the CSV files it loads.
//
//go:embed testdata/fleet
var fleetFiles embed.FS

// FleetStatements are the statements of testdata/fleet/fleet.sql (the
// hand-written fleet of six installations the marts' fleet tests check)
// for source database db, to run in order after the loader's migrations:
// each ends with a semicolon at the end of a line, comment lines are
// dropped, "serviceping." becomes "db." and {csv:FILE} the content of
// testdata/fleet/FILE as a string literal.
func FleetStatements(db string) ([]string, error) {
	return chtest.Statements(fleetFiles, "testdata/fleet/fleet.sql", db)
}
