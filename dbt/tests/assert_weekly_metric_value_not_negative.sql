-- Clamping: no installation's weekly value is ever negative.
select *
from {{ ref('fct_ping_instance_metric_weekly') }}
where weekly_metric_value < 0
