{{ config(order_by='(dim_installation_id, recorded_at, ping_id)') }}
-- One row per ping with the instance's attributes, flagged when it is the
-- last ping of its installation (uuid + hostname) in its calendar month or
-- ISO week (weeks start on Monday), as GitLab's dim_ping_instance.
with pings as (
    select * from {{ ref('stg_pings') }}
)

select
    *,
    row_number() over (
        partition by dim_installation_id, ping_month
        order by recorded_at desc, ping_id desc
    ) = 1 as is_last_ping_of_month,
    row_number() over (
        partition by dim_installation_id, ping_week
        order by recorded_at desc, ping_id desc
    ) = 1 as is_last_ping_of_week
from pings
