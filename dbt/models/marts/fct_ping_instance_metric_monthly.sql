{{ config(order_by='(key_path, ping_month, dim_installation_id)') }}
-- One row per installation × month × metric, from the installation's last
-- ping of the month (GitLab's fct_ping_instance_metric_monthly):
--   * only numeric metrics that did not time out, time_frame 28d or all;
--   * other negative values (-2, -1000 fallbacks) are left out too, so no
--     sentinel ever enters a difference;
--   * 28d metrics: monthly_metric_value = metric_value;
--   * all-time metrics: this month's value minus the value of the same
--     metric in the installation's previous reported month, among the rows
--     kept above (0 when there is none, so the first month, or the month
--     after a timeout, counts the whole value), negatives clamped
--     to 0 (counters that went down, e.g. after deletions or a reset).
-- 7d metrics are left out (a weekly mart would use is_last_ping_of_week).
with last_pings as (
    select
        ping_id,
        dim_installation_id,
        uuid,
        hostname,
        ping_month,
        main_edition,
        product_tier,
        ping_delivery_type
    from {{ ref('dim_ping_instance') }}
    where is_last_ping_of_month
),

metrics as (
    select
        m.ping_id as ping_id,
        m.key_path as key_path,
        m.time_frame as time_frame,
        assumeNotNull(m.metric_value) as metric_value
    from {{ ref('stg_ping_metrics') }} as m
    where m.ping_id in (select ping_id from last_pings)
      and m.value_kind = 'number'
      and m.metric_value is not null
      and not m.has_timed_out
      and m.metric_value >= 0
      and m.time_frame in ('28d', 'all')
),

joined as (
    select
        p.dim_installation_id as dim_installation_id,
        p.uuid as uuid,
        p.hostname as hostname,
        p.ping_month as ping_month,
        p.main_edition as main_edition,
        p.product_tier as product_tier,
        p.ping_delivery_type as ping_delivery_type,
        m.ping_id as ping_id,
        m.key_path as key_path,
        m.time_frame as time_frame,
        m.metric_value as metric_value
    from metrics as m
    inner join last_pings as p on p.ping_id = m.ping_id
),

with_previous as (
    select
        *,
        lagInFrame(toNullable(metric_value), 1, null) over (
            partition by dim_installation_id, key_path
            order by ping_month
            rows between 1 preceding and current row
        ) as previous_month_metric_value
    from joined
)

select
    lower(hex(MD5(concat(ping_id, '|', key_path)))) as ping_instance_metric_monthly_id,
    dim_installation_id,
    uuid,
    hostname,
    ping_month,
    main_edition,
    product_tier,
    ping_delivery_type,
    ping_id,
    key_path,
    time_frame,
    metric_value,
    previous_month_metric_value,
    if(
        time_frame = 'all',
        greatest(metric_value - ifNull(previous_month_metric_value, 0), 0),
        metric_value
    ) as monthly_metric_value
from with_previous
