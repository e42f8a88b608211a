-- Exactly one last ping per installation and month (and per week).
select dim_installation_id, ping_month, countIf(is_last_ping_of_month) as n
from {{ ref('dim_ping_instance') }}
group by dim_installation_id, ping_month
having n != 1
union all
select dim_installation_id, ping_week, countIf(is_last_ping_of_week) as n
from {{ ref('dim_ping_instance') }}
group by dim_installation_id, ping_week
having n != 1
