-- Fleet fixture (services/loader/internal/dbttest/testdata/fleet/):
-- mart_license_utilization, every row (C has no license: no row).
--   acct-1 sub-a  A: latest a4 90 users / 100 seats = 0.9,  last 2026-02-03 10:00
--   acct-1 sub-b  B: latest b3 60 / 50 = 1.2 (over),        last 2026-02-04 11:00
--   acct-2 sub-d  D: d1 8 / 10 = 0.8,                       last 2025-11-20 09:00
--   acct-2 sub-e  E e2 18 + E2 g1 5 = 23 users, 2 installations; the seats of
--                 the latest ping (g1, the renewed license) 25: 23 / 25 = 0.92,
--                 last 2026-02-11 14:00
-- days_since_last_ping is relative to the build: it must be the calendar
-- days from last_ping_at to built_at, and built_at this build's time
-- (within a day of now()).
{{ fleet_compare(
    "select * replace (toString(last_ping_at) as last_ping_at),
            days_since_last_ping = dateDiff('day', toDate(last_ping_at), toDate(built_at))
            and abs(dateDiff('second', built_at, now('UTC'))) < 86400 as days_since_last_ping_ok
     from " ~ ref('mart_license_utilization'),
    ref('fleet_expected_license_utilization'), key_columns=['account_id', 'subscription_id'],
    exact_columns=['product_tier', 'installations', 'active_users', 'license_user_count', 'last_ping_at', 'days_since_last_ping_ok'],
    approx_columns=['utilization_ratio']) }}
