{#
  ping_instance_metric_fact(period): the body of fct_ping_instance_metric_
  monthly (period 'month') and fct_ping_instance_metric_weekly ('week'),
  GitLab's rules for both. One row per installation × period × metric, from
  the installation's last ping of the period (dim_ping_instance
  is_last_ping_of_<period>):
    * time_frame from the metric dictionary (dim_ping_metric), the key-path
      guess only for metrics it lacks (time_frame_source, see
      stg_ping_metrics);
    * only numeric metrics that did not time out, time_frame 28d (month) or
      7d (week), or all;
    * other negative values (-2, -3, -1000 fallbacks) are left out too, so
      no sentinel ever enters a difference;
    * 28d / 7d metrics: <period>ly value = metric_value;
    * all-time metrics: this period's value minus the value of the same
      metric in the installation's previous reported period, among the rows
      kept above (0 when there is none, so the first period, or the period
      after a timeout, counts the whole value), negatives clamped to 0
      (counters that went down, e.g. after deletions or a reset).
  The other window is left out: a 7d value says little about a month, a
  28d value nothing about one week.
#}
{% macro ping_instance_metric_fact(period) %}
{%- set window = {'month': '28d', 'week': '7d'}[period] -%}
{%- set per = {'month': 'monthly', 'week': 'weekly'}[period] -%}
with last_pings as (
    select
        ping_id,
        dim_installation_id,
        uuid,
        hostname,
        ping_{{ period }},
        main_edition,
        product_tier,
        ping_delivery_type
    from {{ ref('dim_ping_instance') }}
    where is_last_ping_of_{{ period }}
),

metrics as (
    select
        m.ping_id as ping_id,
        m.key_path as key_path,
        m.time_frame as time_frame,
        m.time_frame_source as time_frame_source,
        m.product_stage as product_stage,
        m.product_group as product_group,
        assumeNotNull(m.metric_value) as metric_value
    from {{ ref('stg_ping_metrics') }} as m
    where m.ping_id in (select ping_id from last_pings)
      and m.value_kind = 'number'
      and m.metric_value is not null
      and not m.has_timed_out
      and m.metric_value >= 0
      and m.time_frame in ('{{ window }}', 'all')
),

with_previous as (
    select
        *,
        lagInFrame(toNullable(metric_value), 1, null) over (
            partition by dim_installation_id, key_path
            order by ping_{{ period }}
            rows between 1 preceding and current row
        ) as previous_{{ period }}_metric_value
    from metrics
    inner join last_pings using (ping_id)
)

select
    lower(hex(MD5(concat(ping_id, '|', key_path)))) as ping_instance_metric_{{ per }}_id,
    dim_installation_id,
    uuid,
    hostname,
    ping_{{ period }},
    {%- if period == 'week' %}
    toISOYear(ping_week) as iso_year,
    toISOWeek(ping_week) as iso_week,
    {%- endif %}
    main_edition,
    product_tier,
    ping_delivery_type,
    ping_id,
    key_path,
    time_frame,
    time_frame_source,
    product_stage,
    product_group,
    metric_value,
    previous_{{ period }}_metric_value,
    if(
        time_frame = 'all',
        greatest(metric_value - ifNull(previous_{{ period }}_metric_value, 0), 0),
        metric_value
    ) as {{ per }}_metric_value
from with_previous
{% endmacro %}
