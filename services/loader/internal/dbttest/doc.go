// Package dbttest proves the analysts' dbt project (dbt/ at the repository
// root) against the embedded ClickHouse engine: its test loads generated
// pings through the loader's own row builder and ClickHouse sink, runs the
// real dbt (SERVICEPING_DBT, from scripts/test-env.sh python) over the
// engine's HTTP endpoint, and checks the built models against figures
// computed independently in Go from the same rows.
// Its one non-test function, FleetStatements, gives the hand-written fleet
// (testdata/fleet) to other packages' tests that need built marts.
package dbttest
