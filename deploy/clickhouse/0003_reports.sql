-- Collection failures reported by instances (POST /usage_ping_errors).
-- report_id identifies a report, so a re-delivered one collapses; the
-- partition is the receive month, which every copy of a report shares.
CREATE TABLE IF NOT EXISTS serviceping.ping_errors
(
    report_id   String,
    uuid        String,
    hostname    String,
    version     LowCardinality(String),
    message     String CODEC(ZSTD(3)),
    elapsed     Float64,
    time        String,
    received_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (uuid, received_at, report_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Per-metric collection timings (POST /usage_ping_metadata), one row per metric.
CREATE TABLE IF NOT EXISTS serviceping.ping_metric_timings
(
    report_id    String,
    uuid         String,
    received_at  DateTime64(3, 'UTC'),
    metric       LowCardinality(String),
    time_elapsed Float64,
    error        String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (metric, received_at, uuid, report_id)
SETTINGS non_replicated_deduplication_window = 10000;
