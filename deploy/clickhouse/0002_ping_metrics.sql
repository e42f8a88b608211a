-- One row per ping × leaf of the payload. Sorted by metric, then time, so the
-- common question "how did counts.issues evolve across instances" reads one
-- contiguous range; key_path has a few thousand distinct values, so it is
-- LowCardinality. The identity of a row is (ping_id, key_path); uuid and
-- recorded_at in the key are functions of ping_id. Same partitioning rule and
-- versioning as pings (see 0001).
CREATE TABLE IF NOT EXISTS serviceping.ping_metrics
(
    ping_id      String CODEC(ZSTD(1)),
    uuid         String CODEC(ZSTD(1)),
    recorded_at  DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    key_path     LowCardinality(String),
    value        Nullable(Float64) CODEC(Gorilla, ZSTD(1)),
    value_string String CODEC(ZSTD(1)),
    value_kind   LowCardinality(String),
    is_fallback  Bool,
    _version     UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (key_path, recorded_at, uuid, ping_id)
SETTINGS non_replicated_deduplication_window = 10000;
