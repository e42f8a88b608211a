// Package instancee2e holds the end-to-end test of the instance side: a
// collector computing its ping from a seeded instance and submitting it to
// the all-in-one. It is a package of its own because the embedded
// ClickHouse engine can be opened once per process.
package instancee2e
