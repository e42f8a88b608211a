-- Fleet fixture (services/loader/internal/dbttest/testdata/fleet/): the 13
-- pings of dim_ping_instance with installation, tier and last-ping flags.
--   A: a2 and a3 share ISO week 2026-W05 (Monday 2026-01-26), so a2 is not
--      its week's last; a3 is January's last ping, a4 February's.
--   B, C, D, E: one ping per week; the later ping of each month is its last.
--   E and E2 share a uuid but are two installations (two hostnames).
--   D's Starter license ends 2026-12-31, after its ping: Starter, not Free.
{{ fleet_compare(
    "select * replace (toString(recorded_at) as recorded_at) from " ~ ref('dim_ping_instance'),
    ref('fleet_expected_dim_ping_instance'), key_columns=['hostname', 'recorded_at'],
    exact_columns=['uuid', 'product_tier', 'ping_month', 'ping_week', 'is_last_ping_of_month', 'is_last_ping_of_week']) }}
