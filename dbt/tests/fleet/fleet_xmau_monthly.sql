-- Fleet fixture (services/loader/internal/dbttest/testdata/fleet/):
-- mart_xmau_monthly, every row. K1 is smau + gmau + paid_gmau (group
-- source_code, no stage in the dictionary), K2 umau (stage manage, group
-- group::manage).
--
-- Known installations (a ping in [first of next month − 90 days, first of
-- next month)), weight = seats, or 1 without a license:
--   2025-11  window [2025-09-02, 2025-12-01): D(10)                          → 1, weight 10, paid 1, 10
--   2026-01  window [2025-11-03, 2026-02-01): A(100) B(50) C(1) D(10) E(20)  → 5, weight 181,
--            paid A B D E 4, 180
--   2026-02  window [2025-12-01, 2026-03-01): A(100) B(50) C(1, its 01-29 ping) E(20)
--            E2(25), D's November ping is out                                → 5, weight 196,
--            paid A B E E2 4, 195
--
-- Reporting (monthly values from the month's last pings):
--   2025-11  K1: D 5                     K2: D 6
--   2026-01  K1: A 15, B 32, C 22 = 69, weight 151 (E timed out: −1)
--            paid: A 15, B 32 = 47, weight 150
--            K2: A 25, B 38, C 28, E 12 = 103, weight 171
--   2026-02  K1: A 18, B 40, E 14 = 72, weight 170 (C sent no ping, E2 no K1)
--            paid: the same 72, weight 170
--            K2: A 28, B 44, E 16 = 88, weight 170
--
-- estimated = recorded + recorded × (1 − p) / p = recorded / p:
--   2025-11  p = 10 / 10 = 1: estimated = recorded
--   2026-01  smau, gmau  p = 151 / 181 = 0.83425…   69 × 181 / 151 = 82.70860…
--            paid_gmau   p = 150 / 180 = 0.83333…   47 × 180 / 150 = 56.4
--            umau        p = 171 / 181 = 0.94475…  103 × 181 / 171 = 109.02339…
--   2026-02  smau, gmau  p = 170 / 196 = 0.86734…   72 × 196 / 170 = 83.01176…
--            paid_gmau   p = 170 / 195 = 0.87179…   72 × 195 / 170 = 82.58823…
--            umau        p = 170 / 196 = 0.86734…   88 × 196 / 170 = 101.45882…
{{ fleet_compare(
    "select *, " ~ fleet_metric('key_path') ~ " as metric from " ~ ref('mart_xmau_monthly'),
    ref('fleet_expected_xmau_monthly'), key_columns=['month', 'xmau_kind', 'metric'],
    exact_columns=['product_stage', 'product_group', 'reporting_instances', 'known_instances'],
    approx_columns=['recorded_usage', 'reporting_weight', 'known_weight', 'pct_reporting', 'estimated_usage']) }}
