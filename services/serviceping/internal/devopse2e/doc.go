// Package devopse2e holds the end-to-end test of the DevOps Score: a fleet
// seeded through the all-in-one's gateway, the answers checked against the
// formula of docs/devops-score.md, and the same figures in the warehouse
// and in the dbt mart. It is a package of its own because the embedded
// ClickHouse engine can be opened once per process.
package devopse2e
