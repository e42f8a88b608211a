{{ config(order_by='(month, xmau_kind, key_path)') }}
-- Monthly active users per xMAU metric: one row per month × xmau_kind ×
-- key_path, for every metric the dictionary (dim_ping_metric) tags smau,
-- gmau, paid_gmau or umau with time_frame 28d. A metric tagged with several
-- kinds has one row per kind. The metric's product_stage / product_group
-- (from the dictionary) say which stage (smau) or group (gmau, paid_gmau)
-- the row measures; umau is the whole instance. Metrics are never summed
-- with each other: their users overlap.
--
--   recorded_usage      sum of monthly_metric_value over the installations
--                       whose last ping of the month reported the metric
--                       (fct_ping_instance_metric_monthly: no timeouts, no
--                       fallbacks); paid_gmau: paid installations only
--                       (product tier Starter, Premium or Ultimate)
--   known installations every installation that sent any ping in the 90
--                       days before the month's end (recorded_at in
--                       [first day of next month − 90 days, first day of
--                       next month)), with the attributes of its latest such
--                       ping; paid_gmau: the paid ones among them
--   weight              an installation's seats, license_user_count, when
--                       its license says so (> 0), otherwise 1
--   pct_reporting       p = weight of the reporting installations / weight
--                       of the known installations
--   estimated_usage     recorded + recorded × (1 − p) / p (GitLab's
--                       extrapolation to non-reporting installations;
--                       equals recorded / p)
--
-- A reporting installation sent a ping in the month, so it is always known
-- and 0 < p <= 1. GitLab.com counts like any installation (GitLab assumes
-- 100 % reporting for SaaS; here it simply reports).
with xmau_metrics as (
    select
        key_path,
        product_section,
        product_stage,
        product_group,
        xmau_kind
    from {{ ref('dim_ping_metric') }}
    array join arrayFilter(
        kind -> kind != '',
        [
            if(is_smau, 'smau', ''),
            if(is_gmau, 'gmau', ''),
            if(is_paid_gmau, 'paid_gmau', ''),
            if(is_umau, 'umau', '')
        ]
    ) as xmau_kind
    where time_frame = '28d'
),

pings as (
    select
        dim_installation_id,
        ping_id,
        recorded_at,
        product_tier,
        license_user_count
    from {{ ref('dim_ping_instance') }}
),

-- Each ping makes its installation known in the months whose 90-day
-- window holds it: its own month and the following months m with
-- recorded_at >= (first day after m) − 90 days (at most three more).
ping_known_months as (
    select
        dim_installation_id,
        ping_id,
        recorded_at,
        product_tier,
        license_user_count,
        addMonths(toStartOfMonth(recorded_at), offset) as month
    from pings
    array join [0, 1, 2, 3] as offset
    where toDate(recorded_at) >= addDays(addMonths(toStartOfMonth(recorded_at), offset + 1), -90)
),

known as (
    select
        month,
        dim_installation_id,
        argMax(product_tier, (recorded_at, ping_id)) in ('Starter', 'Premium', 'Ultimate') as is_paid,
        argMax(license_user_count, (recorded_at, ping_id)) as latest_license_user_count,
        if(ifNull(latest_license_user_count, 0) > 0, toFloat64(assumeNotNull(latest_license_user_count)), 1.0) as weight
    from ping_known_months
    group by month, dim_installation_id
),

known_totals as (
    select
        month,
        count() as known_instances,
        sum(weight) as known_weight,
        countIf(is_paid) as known_paid_instances,
        sumIf(weight, is_paid) as known_paid_weight
    from known
    group by month
),

reported as (
    select
        f.ping_month as month,
        x.xmau_kind as xmau_kind,
        f.key_path as key_path,
        x.product_section as product_section,
        x.product_stage as product_stage,
        x.product_group as product_group,
        f.dim_installation_id as dim_installation_id,
        f.monthly_metric_value as monthly_metric_value,
        k.weight as weight
    from {{ ref('fct_ping_instance_metric_monthly') }} as f
    inner join xmau_metrics as x on x.key_path = f.key_path
    inner join known as k
        on k.month = f.ping_month and k.dim_installation_id = f.dim_installation_id
    where f.time_frame = '28d'
      and (x.xmau_kind != 'paid_gmau' or k.is_paid)
),

recorded as (
    select
        month,
        xmau_kind,
        key_path,
        product_section,
        product_stage,
        product_group,
        sum(monthly_metric_value) as recorded_usage,
        count() as reporting_instances,
        sum(weight) as reporting_weight
    from reported
    group by month, xmau_kind, key_path, product_section, product_stage, product_group
)

select
    r.month as month,
    r.xmau_kind as xmau_kind,
    r.key_path as key_path,
    r.product_section as product_section,
    r.product_stage as product_stage,
    r.product_group as product_group,
    r.recorded_usage as recorded_usage,
    r.reporting_instances as reporting_instances,
    if(r.xmau_kind = 'paid_gmau', t.known_paid_instances, t.known_instances) as known_instances,
    r.reporting_weight as reporting_weight,
    if(r.xmau_kind = 'paid_gmau', t.known_paid_weight, t.known_weight) as known_weight,
    r.reporting_weight / if(r.xmau_kind = 'paid_gmau', t.known_paid_weight, t.known_weight) as pct_reporting,
    r.recorded_usage + r.recorded_usage * (1 - pct_reporting) / pct_reporting as estimated_usage
from recorded as r
inner join known_totals as t on t.month = r.month
