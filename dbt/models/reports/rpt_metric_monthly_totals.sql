{{ config(order_by='(key_path, ping_month, product_tier)') }}
-- Recorded usage per month × metric × product tier: the sum of
-- monthly_metric_value over the installations whose last ping of the month
-- reported the metric, and how many they were (timeouts and other fallbacks
-- are already left out of the fact). GitLab's estimate for non-reporting
-- installations is not applied here.
select
    ping_month,
    key_path,
    time_frame,
    product_tier,
    sum(monthly_metric_value) as recorded_usage,
    uniqExact(dim_installation_id) as reporting_instances
from {{ ref('fct_ping_instance_metric_monthly') }}
group by ping_month, key_path, time_frame, product_tier
