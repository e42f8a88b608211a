-- Fleet fixture (services/loader/internal/dbttest/testdata/fleet/):
-- mart_ping_health, every row.
-- Pings per version: 18.1.0 A a1–a4 + C c1–c2 = 6; 18.2.3 B b1–b3 + E e1 = 4;
-- 17.11.2 D = 1; 18.4.1 E e2 + E2 g1 = 2 (g1 carries only K3 and K5).
-- Fallbacks: c2 K4 −2 → 18.1.0 K4 redis 1/6; b1 K3 −3 → 18.2.3 K3 sql 1/4;
-- e1 K1 −1 and K5 −1 → 18.2.3 K1 and K5 timeout 1/4; d1 K5 −1000 → 17.11.2
-- K5 deprecated 1/1.
-- Error reports per version: 18.1.0 r1 (delivered twice, once after FINAL)
-- + r2 = 2; 18.2.3 r3 = 1; r4's 16.0.0 ran no stored ping: no row.
-- Timings, attributed to the version of the instance's latest ping
-- received before them (quantileExactInclusive: h = (n − 1) × q):
--   18.1.0 K1  tA0 0.25, tA 0.5, tC 1.5 → sorted 0.25 0.5 1.5:
--              p50 h = 1 → 0.5; p95 h = 1.9 → 0.5 + 0.9 × (1.5 − 0.5) = 1.4
--   18.1.0 K3  2.0, 1.0, 3.0 → 1 2 3: p50 2, p95 2 + 0.9 × 1 = 2.9
--   18.1.0 topology  0.1 (a timing-only row: no leaf of that name, 0 pings)
--   18.2.3 K1  tE1 4.0 with an error (after e1, 18.2.3)
--   18.4.1 K1  tE2 0.8 (after e2: E had upgraded)
--   tX's instance has no ping: left out.
{{ fleet_compare(
    "select *, " ~ fleet_metric('key_path') ~ " as metric from " ~ ref('mart_ping_health'),
    ref('fleet_expected_ping_health'), key_columns=['version', 'metric'],
    exact_columns=['metric_pings', 'version_pings', 'version_error_reports', 'fallback_timeout_count', 'fallback_redis_count',
                   'fallback_sql_count', 'fallback_deprecated_count', 'timings', 'timing_errors'],
    approx_columns=['fallback_rate', 'timing_p50_seconds', 'timing_p95_seconds']) }}
