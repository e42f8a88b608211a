// Package faulte2e is the project's own fault test: every stage a process
// of its own (internal/localcluster: one nats-server, the embedded
// ClickHouse endpoint, a gateway, an enricher and a loader, each the real
// binary with its default settings), full-size pings posted by concurrent
// instances that retry as GitLab's client does, and meanwhile processes
// killed with SIGKILL and restarted one at a time: the loader right after
// a Parquet file appears and again while it holds an open batch, the
// enricher, the gateway, and the NATS server (kept down a few seconds).
// After each restart it times how long until every ping accepted before it
// is queryable; at the end it checks nothing accepted is lost or shown
// twice, every ping has all its metric rows, the lake holds every ping by
// the readers' rule, and the pull loops backed off while NATS was down.
//
// `make test` runs one round at a few pings a second; `make soak` more
// rounds at a higher rate (SERVICEPING_FAULT_ROUNDS,
// SERVICEPING_FAULT_RATE).
package faulte2e
