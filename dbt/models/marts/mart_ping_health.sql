{{ config(order_by='(version, key_path)') }}
-- Collection health per GitLab version × metric: one row per version ×
-- key_path that a ping of that version carried (ping_metrics) or that
-- instances of that version timed (ping_metric_timings).
--
--   metric_pings               pings of the version that carried the key path
--   fallback_*_count / _rate   numeric leaves holding a fallback value, and
--                              their share of metric_pings, by kind:
--                              timeout   -1    timeout / general failure
--                              redis     -2    error of a (distributed) Redis counter
--                              sql       -3    SQL metric placeholder (/usage_data/non_sql_metrics)
--                              deprecated -1000 deprecated metric
--   fallback_rate              all four kinds together
--   version_pings              pings of the version (any key path)
--   version_error_reports      error reports (POST /usage_ping_errors,
--                              ping_errors FINAL) sent by instances of the
--                              version: a version-level figure, the same on
--                              every row of the version
--   timings                    per-metric timings (POST /usage_ping_metadata,
--                              ping_metric_timings FINAL) of the key path
--                              attributed to the version, and timing_errors
--                              those that carried an error
--   timing_p50/p95_seconds     their median and 95th percentile
--                              (quantileExactInclusive: linear interpolation
--                              between the sorted values, like numpy's
--                              default); null without timings
--
-- A timing report names the instance (uuid), not its version: it is
-- attributed to the version of that instance's latest ping received at or
-- before the timing report (an instance sends its metadata right after a
-- successful ping, GitLab's submit flow). Timings of an instance with no
-- earlier ping in the warehouse are left out, and so are error reports of
-- versions no stored ping ran.
with pings as (
    select ping_id, uuid, version, received_at
    from {{ ref('stg_pings') }}
),

metrics as (
    select
        p.version as version,
        cast(m.key_path as String) as metric_key_path,
        count() as metric_pings,
        countIf(m.value_kind = 'number' and m.original_metric_value = -1) as fallback_timeout_count,
        countIf(m.value_kind = 'number' and m.original_metric_value = -2) as fallback_redis_count,
        countIf(m.value_kind = 'number' and m.original_metric_value = -3) as fallback_sql_count,
        countIf(m.value_kind = 'number' and m.original_metric_value = -1000) as fallback_deprecated_count
    from {{ ref('stg_ping_metrics') }} as m
    inner join pings as p on p.ping_id = m.ping_id
    group by version, metric_key_path
),

version_pings as (
    select version, count() as version_pings
    from pings
    group by version
),

errors as (
    select cast(version as String) as version, count() as version_error_reports
    from (select * from {{ source('serviceping', 'ping_errors') }} final)
    group by version
),

timings as (
    select
        p.version as version,
        cast(t.metric as String) as key_path,
        t.time_elapsed as time_elapsed,
        t.error as error
    from (select * from {{ source('serviceping', 'ping_metric_timings') }} final) as t
    asof join pings as p
        on p.uuid = t.uuid and t.received_at >= p.received_at
),

timing_stats as (
    select
        version,
        key_path,
        count() as timings,
        countIf(error != '') as timing_errors,
        quantileExactInclusive(0.5)(time_elapsed) as p50,
        quantileExactInclusive(0.95)(time_elapsed) as p95
    from timings
    group by version, key_path
),

keys as (
    select version, metric_key_path as key_path from metrics
    union distinct
    select version, key_path from timing_stats
)

select
    k.version as version,
    k.key_path as key_path,
    ifNull(m.metric_pings, 0) as metric_pings,
    ifNull(m.fallback_timeout_count, 0) as fallback_timeout_count,
    ifNull(m.fallback_redis_count, 0) as fallback_redis_count,
    ifNull(m.fallback_sql_count, 0) as fallback_sql_count,
    ifNull(m.fallback_deprecated_count, 0) as fallback_deprecated_count,
    fallback_timeout_count + fallback_redis_count + fallback_sql_count + fallback_deprecated_count as fallback_count,
    if(metric_pings > 0, fallback_timeout_count / metric_pings, null) as fallback_timeout_rate,
    if(metric_pings > 0, fallback_redis_count / metric_pings, null) as fallback_redis_rate,
    if(metric_pings > 0, fallback_sql_count / metric_pings, null) as fallback_sql_rate,
    if(metric_pings > 0, fallback_deprecated_count / metric_pings, null) as fallback_deprecated_rate,
    if(metric_pings > 0, fallback_count / metric_pings, null) as fallback_rate,
    ifNull(v.version_pings, 0) as version_pings,
    ifNull(e.version_error_reports, 0) as version_error_reports,
    ifNull(t.timings, 0) as timings,
    ifNull(t.timing_errors, 0) as timing_errors,
    if(timings > 0, t.p50, null) as timing_p50_seconds,
    if(timings > 0, t.p95, null) as timing_p95_seconds
from keys as k
left join metrics as m on m.version = k.version and m.metric_key_path = k.key_path
left join timing_stats as t on t.version = k.version and t.key_path = k.key_path
left join version_pings as v on v.version = k.version
left join errors as e on e.version = k.version
