-- Fleet fixture (services/loader/internal/dbttest/testdata/fleet/):
-- fct_ping_instance_metric_weekly, every row. Last pings of the ISO week
-- (its Monday): A a1 (01-05), a3 (01-26, a2 of the same week is earlier),
-- a4 (02-02); B b1, b2, b3; C c1, c2; D d1 (2025-11-17); E e1 (01-12),
-- e2 (02-09); E2 g1 (02-09).
-- K4 is 7d in the dictionary: the value as reported. K3 (dictionary) and
-- K5 (key-path guess) are all-time: this week − the previous kept week,
-- clamped at 0. K1 and K2 are 28d: not in the weekly fact.
--   A  K3  100 ; 120 − 100 = 20 ; 115 − 120 → 0     K5  7 ; 10 − 7 = 3 ; 12 − 10 = 2
--   B  K3  b1's −3 left out ; 50 (no kept previous) ; 65 − 50 = 15
--      K5  4 ; 5 − 4 = 1 ; 8 − 5 = 3
--   C  K3  40 ; 45 − 40 = 5    K4  1 ; c2's −2 left out    K5  2 ; 3 − 2 = 1
--   D  K3 10, K4 1 (K5 −1000 left out)
--   E  K3  30 ; 33 − 30 = 3    K4  2 ; 3    K5  e1's −1 left out ; 2 (the whole value)
--   E2 K3 5, K5 1
{{ fleet_compare(
    "select *, " ~ fleet_metric('key_path') ~ " as metric from " ~ ref('fct_ping_instance_metric_weekly'),
    ref('fleet_expected_fct_weekly'), key_columns=['hostname', 'ping_week', 'metric'],
    exact_columns=['time_frame', 'time_frame_source'], approx_columns=['weekly_metric_value']) }}
