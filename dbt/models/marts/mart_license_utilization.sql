{{ config(order_by='(account_id, subscription_id)') }}
-- Seat utilization per customer account and subscription: one row per
-- account_id × subscription_id (as the enricher resolved them from the
-- ping's license; pings without a subscription are left out), from the
-- latest ping of each of the subscription's installations.
--
--   installations          installations (uuid + hostname) that sent a ping
--                          under this subscription
--   active_users           sum of the installations' latest active_user_count
--   license_user_count     seats: license_user_count of the subscription's
--                          most recent ping (the license in force)
--   utilization_ratio      active_users / license_user_count (null without seats)
--   last_ping_at           the subscription's most recent ping (recorded_at)
--   built_at               when this table was built (now(), UTC)
--   days_since_last_ping   calendar days (UTC) from last_ping_at's date to built_at's
with licensed as (
    select *
    from {{ ref('dim_ping_instance') }}
    where subscription_id != ''
),

installations as (
    select
        account_id,
        subscription_id,
        dim_installation_id,
        max(recorded_at) as installation_last_ping_at,
        argMax(instance_user_count, (recorded_at, ping_id)) as installation_active_users,
        argMax(license_user_count, (recorded_at, ping_id)) as installation_license_user_count,
        argMax(product_tier, (recorded_at, ping_id)) as installation_product_tier
    from licensed
    group by account_id, subscription_id, dim_installation_id
),

subscriptions as (
    select
        account_id,
        subscription_id,
        count() as installations,
        sum(ifNull(installation_active_users, 0)) as active_users,
        argMax(installation_license_user_count, (installation_last_ping_at, dim_installation_id)) as license_user_count,
        argMax(installation_product_tier, (installation_last_ping_at, dim_installation_id)) as product_tier,
        max(installation_last_ping_at) as last_ping_at
    from installations
    group by account_id, subscription_id
)

select
    account_id,
    subscription_id,
    product_tier,
    installations,
    active_users,
    license_user_count,
    if(ifNull(license_user_count, 0) > 0, active_users / assumeNotNull(license_user_count), null) as utilization_ratio,
    last_ping_at,
    now('UTC') as built_at,
    dateDiff('day', toDate(last_ping_at), toDate(built_at)) as days_since_last_ping
from subscriptions
