-- One row per ping × payload leaf, with GitLab's prep_ping_instance_flattened
-- treatment of timeouts, and the metric's time frame and product
-- section / stage / group from the metric dictionary (dim_ping_metric).
--
-- Fallbacks: a numeric -1 (the collector's timeout / general failure) becomes
-- metric_value 0 with has_timed_out = true. -2, -3 and -1000 are kept as they
-- are (is_fallback marks -1, -2 and -1000; -3, the SQL-metric placeholder of
-- /usage_data/non_sql_metrics, is not marked; downstream filters take values
-- >= 0, which drops all four).
--
-- time_frame: the dictionary's, for every key path it defines
-- (time_frame_source = 'dictionary'). Only a key path absent from the
-- dictionary falls back to a guess from its shape
-- (time_frame_source = 'key_path_guess'):
--   not a number                                                       → none
--   key path ends in _weekly, or starts with counts_weekly.            → 7d
--   key path ends in _monthly, or starts with counts_monthly. or
--   usage_activity_by_stage_monthly.                                   → 28d
--   first path segment in var('counter_roots')                         → all
--   anything else (instance attributes, settings, topology, ...)       → none
with metrics as (
    select * from {{ source('serviceping', 'ping_metrics_latest') }}
),

dictionary as (
    select
        key_path,
        time_frame,
        product_section,
        product_stage,
        product_group,
        true as in_dictionary
    from {{ ref('dim_ping_metric') }}
),

resolved as (
    select
        m.ping_id as ping_id,
        m.uuid as uuid,
        m.recorded_at as recorded_at,
        m.key_path as key_path,
        m.value_kind as value_kind,
        m.value as value,
        m.is_fallback as is_fallback,
        m.value_string as value_string,
        -- A key path the dictionary lacks gets the column defaults of the
        -- join (false, ''); ifNull keeps that true under join_use_nulls.
        ifNull(d.in_dictionary, false) as is_in_dictionary,
        ifNull(d.time_frame, '') as dictionary_time_frame,
        ifNull(d.product_section, '') as product_section,
        ifNull(d.product_stage, '') as product_stage,
        ifNull(d.product_group, '') as product_group
    from metrics as m
    left join dictionary as d on d.key_path = m.key_path
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
    if(
        is_in_dictionary,
        dictionary_time_frame,
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
        )
    ) as time_frame,
    if(is_in_dictionary, 'dictionary', 'key_path_guess') as time_frame_source,
    is_in_dictionary,
    product_section,
    product_stage,
    product_group
from resolved
