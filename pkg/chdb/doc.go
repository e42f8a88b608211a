// Package chdb embeds the ClickHouse engine of chDB (libchdb.so) in a Go
// process without cgo: the library is loaded with purego and driven through
// its C API.
//
// One engine (one data path) runs per process. Each Conn is a connection to
// it with a session of its own — settings changed with SET, the current
// database, temporary tables — and runs one statement at a time; different
// Conns run statements concurrently. chDB 26.7 serves any number of
// connections to the same path, each a ClickHouse session (a ChdbClient) of
// the one embedded server: TestConnections shows a SELECT answering in
// milliseconds on one connection while another runs sleep(2), and SET and
// temporary tables staying in their connection. The Engine keeps one
// connection open for its whole life, because closing the last one shuts
// the embedded server down, and uses it for Engine.Exec and friends, which
// are serialized.
//
// Results are either materialized (Exec) or streamed block by block
// (Conn.Query, chdb_stream_query): a streamed query holds one block in
// memory at a time and is killed when its context ends, even while the
// engine is still computing the next block — KILL QUERY from a control
// connection, matching a marker comment appended to the statement, because
// chdb_stream_cancel_query cannot interrupt a fetch in progress.
//
// # chdb-go was evaluated and not adopted
//
// The official binding github.com/chdb-io/chdb-go v1.11.0 (package
// chdb-purego, built with purego v0.8.2 and v0.11.3) was tried in a scratch
// module against the pinned libchdb.so (26.7.3-stable.1). What worked: every symbol
// it binds resolves; a persistent data path; concurrent connections with
// sessions of their own; TabSeparated, CSV, JSON, Native; rows and bytes read;
// errors carrying "Code: N." (plain text); streamed SELECTs; close and reopen.
// What rules it out:
//   - it loads the library in init() from CHDB_LIB_PATH or fixed system paths
//     and panics when absent, so every binary importing it dies before main;
//   - it never disables ClickHouse's signal handlers: once connected, a Go nil
//     dereference hangs the process instead of panicking;
//   - stream Cancel passes chdb_connection* where chdb_connection is expected
//     and the engine ignores it: the statement was still in system.processes
//     2.5 s later (gone at once with the right handle);
//   - a failed Query never destroys its result: RSS grew 230 MB over 3000
//     failing 64 KiB statements (15 MB with this package); Query after Close hangs;
//   - not bound: the _n variants (a NUL byte cuts the statement), query
//     parameters, streaming INSERT, chdb_classify_query_n, rows/bytes written,
//     which Conn.Insert, Conn.Analyze, Request.Params and Result need.
//
// Switching would need upstream a loader taking a path and returning an error,
// the signal-handler switch, the cancel and leak fixes, and those bindings.
package chdb
