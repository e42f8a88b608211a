-- One row per ping. ReplacingMergeTree keyed by the ping's identity makes a
-- re-delivered or resubmitted ping harmless; _version (the enrichment time
-- in ms, the receive time when the ping was never enriched) lets a
-- re-enriched ping replace the earlier row.
--
-- Partitioning: by the month of recorded_at. For weekly pings that is the
-- ingestion month, and unlike the wall-clock receive time it is a function of
-- ping_id (sha256(uuid, recorded_at)), so every copy of a ping lands in the
-- same partition and background merges collapse duplicates, not only FINAL
-- (neither ever collapses rows across partitions). The loader inserts one
-- month per INSERT, so a replay spanning years never hits
-- max_partitions_per_insert_block.
--
-- Sorted by instance, then time: "the pings of this instance" and joins
-- from ping_metrics by (uuid, recorded_at) read contiguous ranges.
CREATE TABLE IF NOT EXISTS serviceping.pings
(
    ping_id            String CODEC(ZSTD(1)),
    usage_data_id      Int64,
    uuid               String CODEC(ZSTD(1)),
    hostname           String CODEC(ZSTD(1)),
    version            LowCardinality(String),
    edition            LowCardinality(String),
    installation_type  LowCardinality(String),
    recorded_at        DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    received_at        DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    active_user_count  Nullable(Int64),
    license_md5        String CODEC(ZSTD(1)),
    license_sha256     String CODEC(ZSTD(1)),
    license_id         String CODEC(ZSTD(1)),
    license_plan       LowCardinality(String),
    license_user_count Nullable(Int64),
    license_starts_at  Nullable(Date32),
    license_expires_at Nullable(Date32),
    license_trial      Nullable(Bool),
    subscription_id    String CODEC(ZSTD(1)),
    account_id         String CODEC(ZSTD(1)),
    enrichment_status  LowCardinality(String),
    payload            String CODEC(ZSTD(3)),
    _version           UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (uuid, recorded_at, ping_id)
-- insert_deduplication_token needs a window on non-replicated tables; the
-- loader's tokens make a retried batch a no-op within the last 10k inserts.
SETTINGS non_replicated_deduplication_window = 10000;
