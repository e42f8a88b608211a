// Package clickhouse ships the warehouse's schema migrations
// (docs/contracts.md, "Warehouse (ClickHouse)"): numbered SQL files,
// NNNN_name.sql, applied in order by the loader at start and recorded in
// serviceping.schema_migrations.
//
// Rules for the files: never edit one that was released (the loader refuses
// to start when an applied file's checksum changed; add a new file
// instead); every statement is idempotent (IF NOT EXISTS, OR REPLACE,
// ADD COLUMN IF NOT EXISTS) because a loader that crashes between applying
// a file and recording it applies it again; tables are named with the
// database, serviceping.<table>, so the files also run as they are with
// clickhouse-client.
package clickhouse

import "embed"

// Migrations holds the *.sql files of this directory.
//
//go:embed *.sql
var Migrations embed.FS
