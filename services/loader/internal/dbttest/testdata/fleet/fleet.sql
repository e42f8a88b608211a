-- A small hand-written fleet for the marts' singular tests
-- (dbt/tests/fleet/, enabled by --vars '{fleet_fixture: true}'): six
-- installations, thirteen pings, five metrics, DevOps scores, error reports
-- and metric timings, in the CSV files of this directory. Every figure
-- those tests expect (dbt/seeds/fleet/) is computed by hand from them:
-- change one and recompute them.
--
-- The Go test (TestDBTMartsFleet) runs each statement below against a
-- fresh source database after the loader's migrations, with "serviceping."
-- replaced by that database and {csv:FILE} by FILE's content as a string
-- literal. Statements end with a semicolon at the end of a line, and no
-- comment holds one.
--
-- installation (uuid suffix)  hostname              edition      license (seats, subscription, account)
--   A  …0a                    a.fleet.example       EEP Premium  100, sub-a, acct-1
--   B  …0b                    b.fleet.example       EEU Ultimate  50, sub-b, acct-1
--   C  …0c                    c.fleet.example       CE  Free     none
--   D  …0d                    d.fleet.example       EES Starter   10, sub-d, acct-2  (one ping, November 2025)
--   E  …0e                    e.fleet.example       EEP Premium   20, sub-e, acct-2
--   E2 …0e (E's uuid)         e-geo.fleet.example   EEP Premium   25, sub-e, acct-2  (E's Geo site, renewed license)
--
-- pings.csv (recorded_at UTC, its ISO week, version, active_user_count), each received an hour later:
--   a1 2026-01-06 10:00 W02 18.1.0  80    b1 2026-01-07 11:00 W02 18.2.3 40    c1 2026-01-08 12:00 W02 18.1.0 30
--   a2 2026-01-27 10:00 W05 18.1.0  82    b2 2026-01-28 11:00 W05 18.2.3 45    c2 2026-01-29 12:00 W05 18.1.0 32
--   a3 2026-01-29 10:00 W05 18.1.0  85    b3 2026-02-04 11:00 W06 18.2.3 60    d1 2025-11-20 09:00 W47 17.11.2 8
--   a4 2026-02-03 10:00 W06 18.1.0  90    e1 2026-01-13 13:00 W03 18.2.3 15    e2 2026-02-10 13:00 W07 18.4.1 18
--   g1 2026-02-11 14:00 W07 18.4.1   5 (E2)
--
-- ping_metrics.csv, one column per metric (the dictionary entries the tests
-- rely on are checked by the fleet_dictionary test):
--   k1 usage_activity_by_stage_monthly.create.action_monthly_active_users_project_repo
--      28d, smau + gmau + paid_gmau, group source_code
--   k2 usage_activity_by_stage_monthly.manage.events   28d, umau, stage manage, group group::manage
--   k3 counts.issues                                   all
--   k4 analytics_unique_visits.i_analytics_dev_ops_score
--      7d in the dictionary (the key-path guess would say all)
--   k5 counts.fleet_widgets                            not in the dictionary: guessed all
-- An empty cell is a metric the ping does not carry. Fallbacks: e1 k1 and
-- k5 −1 (timeout), c2 k4 −2 (Redis), b1 k3 −3 (SQL placeholder), d1 k5
-- −1000 (deprecated).
--
-- devops_scores.csv: the percentages of the ten features per scored ping
-- (a3 twice: a stale copy, _version 1, and the row FINAL keeps, _version
-- 2). cx scores a ping the warehouse does not have. Leaders are fixed
-- below: instance = leader × percentage / 100.
--
-- ping_errors.csv: r1 delivered twice, r4 from a version no stored ping ran.
-- ping_metric_timings.csv: a few seconds after the pings they follow. tX's
-- instance has no ping.

INSERT INTO serviceping.pings
    (ping_id, usage_data_id, uuid, hostname, version, edition, installation_type, recorded_at, received_at,
     active_user_count, license_md5, license_sha256, license_id, license_plan, license_user_count,
     license_starts_at, license_expires_at, license_trial, subscription_id, account_id, enrichment_status,
     payload, _version)
SELECT
    lower(hex(SHA256(concat(uuid, '\n', formatDateTime(recorded_at, '%Y-%m-%d %H:%i:%S UTC'))))),
    usage_data_id, uuid, hostname, version, edition, 'omnibus-gitlab', recorded_at, recorded_at + INTERVAL 1 HOUR,
    active_user_count,
    if(plan = '', '', lower(hex(MD5(subscription_id)))), if(plan = '', '', lower(hex(SHA256(subscription_id)))),
    if(plan = '', '', concat('lic-', subscription_id)), plan, seats,
    if(plan = '', NULL, toDate32('2025-01-01')), if(plan = '', NULL, toDate32('2026-12-31')), if(plan = '', NULL, false),
    subscription_id, account_id, if(plan = '', 'skipped', 'matched'),
    '{}', 1
FROM format(CSVWithNames,
    'ping String, usage_data_id Int64, uuid String, hostname String, version String, edition String,
     recorded_at DateTime64(3, \'UTC\'), active_user_count Nullable(Int64), plan String, seats Nullable(Int64),
     subscription_id String, account_id String',
    {csv:pings.csv});

INSERT INTO serviceping.ping_metrics
    (ping_id, uuid, recorded_at, key_path, value, value_string, value_kind, is_fallback, _version)
SELECT
    lower(hex(SHA256(concat(uuid, '\n', formatDateTime(recorded_at, '%Y-%m-%d %H:%i:%S UTC'))))),
    uuid, recorded_at, metric.1, metric.2, '', 'number', metric.2 IN (-1, -2, -3, -1000), 1
FROM format(CSVWithNames,
    'ping String, uuid String, recorded_at DateTime64(3, \'UTC\'),
     k1 Nullable(Float64), k2 Nullable(Float64), k3 Nullable(Float64), k4 Nullable(Float64), k5 Nullable(Float64)',
    {csv:ping_metrics.csv})
ARRAY JOIN arrayFilter(m -> m.2 IS NOT NULL, [
    ('usage_activity_by_stage_monthly.create.action_monthly_active_users_project_repo', k1),
    ('usage_activity_by_stage_monthly.manage.events', k2),
    ('counts.issues', k3),
    ('analytics_unique_visits.i_analytics_dev_ops_score', k4),
    ('counts.fleet_widgets', k5)
]) AS metric;

INSERT INTO serviceping.devops_scores
SELECT
    ping_id, usage_data_id, uuid, recorded_at, received_at, previous_ping_id, previous_recorded_at,
    active_user_count, leaders_computed_at, leaders_instances,
    v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15],
    v[16], v[17], v[18], v[19], v[20], v[21], v[22], v[23], v[24], v[25], v[26], v[27], v[28], v[29], v[30],
    _version
FROM (
    SELECT
        lower(hex(SHA256(concat(uuid, '\n', formatDateTime(recorded_at, '%Y-%m-%d %H:%i:%S UTC'))))) AS ping_id,
        toInt64(cityHash64(ping) % 1000) AS usage_data_id, uuid, recorded_at,
        recorded_at + INTERVAL 1 HOUR AS received_at,
        '' AS previous_ping_id, recorded_at - INTERVAL 7 DAY AS previous_recorded_at, toInt64(10) AS active_user_count,
        toDateTime64('2026-01-01 00:00:00', 3, 'UTC') AS leaders_computed_at, toUInt32(6) AS leaders_instances,
        -- leader_<f>, instance_<f>, percentage_<f> for the ten features in order.
        arrayFlatten(arrayMap(
            (leader, pct) -> [leader, leader * pct / 100, pct],
            [10., 20, 2, 4, 8, 16, 5, 5, 1, 2],
            [issues, notes, milestones, boards, merge_requests, ci_pipelines, environments, deployments,
             projects_prometheus_active, service_desk_issues])) AS v,
        _version
    FROM format(CSVWithNames,
        'ping String, uuid String, recorded_at DateTime64(3, \'UTC\'), _version UInt64,
         issues Float64, notes Float64, milestones Float64, boards Float64, merge_requests Float64,
         ci_pipelines Float64, environments Float64, deployments Float64, projects_prometheus_active Float64,
         service_desk_issues Float64',
        {csv:devops_scores.csv})
);

INSERT INTO serviceping.ping_errors (report_id, uuid, hostname, version, message, elapsed, time, received_at)
SELECT *
FROM format(CSVWithNames,
    'report_id String, uuid String, hostname String, version String, message String, elapsed Float64,
     time String, received_at DateTime64(3, \'UTC\')',
    {csv:ping_errors.csv});

INSERT INTO serviceping.ping_metric_timings (report_id, uuid, received_at, metric, time_elapsed, error)
SELECT *
FROM format(CSVWithNames,
    'report_id String, uuid String, received_at DateTime64(3, \'UTC\'), metric String, time_elapsed Float64, error String',
    {csv:ping_metric_timings.csv});
