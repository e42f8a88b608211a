-- Fleet fixture (services/loader/internal/dbttest/testdata/fleet/):
-- mart_version_adoption, every row, from each installation's last ping of
-- the ISO week (active_user_count in brackets):
--   2025-11-17 (2025-W47)  D 17.11.2 EES [8]
--   2026-01-05 (W02)       A 18.1.0 EEP [80], B 18.2.3 EEU [40], C 18.1.0 CE [30]: 1/3 each
--   2026-01-12 (W03)       E 18.2.3 EEP [15]
--   2026-01-26 (W05)       A a3 18.1.0 EEP [85] (not a2), B 18.2.3 EEU [45], C 18.1.0 CE [32]
--   2026-02-02 (W06)       A 18.1.0 EEP [90], B 18.2.3 EEU [60]: 1/2 each
--   2026-02-09 (W07)       E 18.4.1 EEP [18] + E2 18.4.1 EEP [5] = 2 instances, 23 users (E upgraded)
{{ fleet_compare(
    "select * from " ~ ref('mart_version_adoption'),
    ref('fleet_expected_version_adoption'), key_columns=['ping_week', 'version', 'edition'],
    exact_columns=['iso_year', 'iso_week', 'major_minor_version', 'instances', 'active_users'],
    approx_columns=['share_of_instances']) }}
