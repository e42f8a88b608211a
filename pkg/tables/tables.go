// Package tables names the warehouse tables the loader writes and the
// operator commands read, which are also the lake's top-level prefixes
// (docs/contracts.md, "Warehouse (ClickHouse)" and "Lake (Parquet)"). The
// names are fixed: dbt and checks outside this repository rely on them;
// the tables themselves are created by the migrations of deploy/clickhouse.
package tables

// The tables of the database serviceping.
const (
	// Pings holds one row per ping (ClickHouse and lake).
	Pings = "pings"
	// Metrics holds one row per ping and payload leaf (ClickHouse and lake).
	Metrics = "ping_metrics"
	// DevOpsScores holds the DevOps Score answered with a ping (ClickHouse only).
	DevOpsScores = "devops_scores"
	// Errors holds the error reports of the REPORTS stream (ClickHouse only).
	Errors = "ping_errors"
	// Timings holds one row per report and metric of the metric timings of
	// the REPORTS stream (ClickHouse only).
	Timings = "ping_metric_timings"
)
