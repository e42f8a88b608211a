// Package e2e holds end-to-end tests of the all-in-one that need a process
// of their own: the embedded ClickHouse engine can be opened once per
// process, and each Go test package runs in its own process.
package e2e
