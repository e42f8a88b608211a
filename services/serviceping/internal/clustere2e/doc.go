// Package clustere2e holds the distributed mode's end-to-end tests: a
// JetStream cluster of three embedded servers, two replicas of the
// gateway, the enricher and the loader, each wired as its binary wires it
// (lifecycle.Run: its own connection to the cluster, the streams ensured),
// and the embedded ClickHouse endpoint, which can be opened once per
// process (hence a package of its own).
package clustere2e
