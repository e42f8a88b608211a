-- The DevOps Score answered to an instance with its ping (docs/devops-score.md):
-- one row per scored ping. A ping gets a score when the gateway knew an
-- earlier ping of the same instance; a first ping gets none and has no row.
-- The row travels inside the ping's envelope, so it is exactly as
-- deduplicated as pings: same identity (ping_id), same partitioning rule,
-- same _version (see 0001).
--
-- The 30 value columns carry GitLab's names (conversational_development_
-- indices): leader_<f>, instance_<f>, percentage_<f> for the ten features.
CREATE TABLE IF NOT EXISTS serviceping.devops_scores
(
    ping_id              String CODEC(ZSTD(1)),
    usage_data_id        Int64,
    uuid                 String CODEC(ZSTD(1)),
    recorded_at          DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    received_at          DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    -- The earlier ping the growth was measured against.
    previous_ping_id     String CODEC(ZSTD(1)),
    previous_recorded_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    -- active_user_count of the ping as used by the formula (0 when absent).
    active_user_count    Int64,
    -- The leaders the score was computed with: when they were computed and
    -- over how many instances (0: no leaders known yet, every leader 0).
    leaders_computed_at  Nullable(DateTime64(3, 'UTC')),
    leaders_instances    UInt32,
    leader_issues                          Float64,
    instance_issues                        Float64,
    percentage_issues                      Float64,
    leader_notes                           Float64,
    instance_notes                         Float64,
    percentage_notes                       Float64,
    leader_milestones                      Float64,
    instance_milestones                    Float64,
    percentage_milestones                  Float64,
    leader_boards                          Float64,
    instance_boards                        Float64,
    percentage_boards                      Float64,
    leader_merge_requests                  Float64,
    instance_merge_requests                Float64,
    percentage_merge_requests              Float64,
    leader_ci_pipelines                    Float64,
    instance_ci_pipelines                  Float64,
    percentage_ci_pipelines                Float64,
    leader_environments                    Float64,
    instance_environments                  Float64,
    percentage_environments                Float64,
    leader_deployments                     Float64,
    instance_deployments                   Float64,
    percentage_deployments                 Float64,
    leader_projects_prometheus_active      Float64,
    instance_projects_prometheus_active    Float64,
    percentage_projects_prometheus_active  Float64,
    leader_service_desk_issues             Float64,
    instance_service_desk_issues           Float64,
    percentage_service_desk_issues         Float64,
    _version             UInt64
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (uuid, recorded_at, ping_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE OR REPLACE VIEW serviceping.devops_scores_latest AS
SELECT * EXCEPT _version FROM serviceping.devops_scores FINAL;
