-- One row per ping × payload leaf, with GitLab's prep_ping_instance_flattened
-- treatment of timeouts and the metric's time frame.
--
-- Fallbacks: a numeric -1 (the collector's timeout / general failure) becomes
-- metric_value 0 with has_timed_out = true. -2 and -1000 are kept as they are
-- (is_fallback tells them; downstream filters take values >= 0).
--
-- time_frame (numbers only; every non-number is "none"):
--   key path ends in _weekly, or starts with counts_weekly.           → 7d
--   key path ends in _monthly, or starts with counts_monthly. or
--   usage_activity_by_stage_monthly.                                   → 28d
--   first path segment in var('counter_roots')                         → all
--   anything else (instance attributes, settings, topology, ...)       → none
with metrics as (
    select * from {{ source('serviceping', 'ping_metrics_latest') }}
)

select
    ping_id,
    uuid,
    recorded_at,
    key_path,
    value_kind,
    value as original_metric_value,
    if(value = -1, 0, value) as metric_value,
    ifNull(value_kind = 'number' and value = -1, false) as has_timed_out,
    is_fallback,
    value_string,
    multiIf(
        value_kind != 'number', 'none',
        endsWith(key_path, '_weekly') or startsWith(key_path, 'counts_weekly.'), '7d',
        endsWith(key_path, '_monthly')
            or startsWith(key_path, 'counts_monthly.')
            or startsWith(key_path, 'usage_activity_by_stage_monthly.'), '28d',
        splitByChar('.', key_path)[1] in (
            {%- for root in var('counter_roots') %}'{{ root }}'{{ ", " if not loop.last }}{% endfor -%}
        ), 'all',
        'none'
    ) as time_frame
from metrics
