// Package dashdeploytest proves the dashboards kept as code in deploy/: the
// Grafana dashboards of deploy/grafana (every ClickHouse panel's SQL run
// against a warehouse holding the hand-written fleet and the marts dbt
// built from it, every PromQL metric one the services export, the JSON's
// data sources, ids and queries) and the Superset dashboards of
// deploy/superset (`make superset` started against the same warehouse and
// every dashboard opened in headless Chromium). It has no non-test code.
package dashdeploytest
