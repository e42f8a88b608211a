-- Fleet fixture (services/loader/internal/dbttest/testdata/fleet/):
-- fct_ping_instance_metric_monthly, every row. Last pings of the month:
-- A a3 (Jan), a4 (Feb); B b2, b3; C c2; D d1 (Nov 2025); E e1, e2; E2 g1.
-- K1, K2 are 28d: the value as reported. K3 (from the dictionary) and K5
-- (key-path guess) are all-time: this month − the previous kept month,
-- clamped at 0. K4 is 7d in the dictionary: not in the monthly fact (the
-- guess alone would have said all).
--   A  K3  Jan 120 (first) ; Feb 115 − 120 = −5 → 0
--   A  K5  Jan 10          ; Feb 12 − 10 = 2
--   B  K3  Jan 50 (b2)     ; Feb 65 − 50 = 15
--   B  K5  Jan 5           ; Feb 8 − 5 = 3
--   C  Jan only: K1 22, K2 28, K3 45, K5 3
--   D  Nov: K1 5, K2 6, K3 10, K5 = −1000 left out
--   E  Jan: K1 = −1 (timeout) and K5 = −1 left out, K2 12, K3 30
--      Feb: K1 14, K2 16, K3 33 − 30 = 3, K5 2 (no kept previous: the whole value)
--   E2 Feb: K3 5, K5 1
{{ fleet_compare(
    "select *, " ~ fleet_metric('key_path') ~ " as metric from " ~ ref('fct_ping_instance_metric_monthly'),
    ref('fleet_expected_fct_monthly'), key_columns=['hostname', 'ping_month', 'metric'],
    exact_columns=['time_frame', 'time_frame_source'], approx_columns=['monthly_metric_value']) }}
