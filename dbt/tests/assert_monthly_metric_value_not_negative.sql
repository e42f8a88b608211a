-- Clamping: no installation's monthly value is ever negative.
select *
from {{ ref('fct_ping_instance_metric_monthly') }}
where monthly_metric_value < 0
