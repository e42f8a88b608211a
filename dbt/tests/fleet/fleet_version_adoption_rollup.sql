-- Fleet fixture (services/loader/internal/dbttest/testdata/fleet/): the
-- roll-up mart_version_adoption documents, that instances and active users
-- add up over the versions and editions of a week. In 2026-W02 major.minor
-- 18.1 is A (18.1.0 EEP, 80 users) + C (18.1.0 CE, 30 users) = 2
-- instances, 110 users. All of W05 is A 85 + B 45 + C 32 = 3 instances,
-- 162 users.
{{ fleet_compare(
    "select ping_week, rollup as major_minor_version, sum(instances) as instances, sum(active_users) as active_users
     from (select *, if(ping_week = '2026-01-26', 'all', major_minor_version) as rollup from " ~ ref('mart_version_adoption') ~ ")
     where (ping_week = '2026-01-05' and rollup = '18.1') or ping_week = '2026-01-26'
     group by ping_week, rollup",
    ref('fleet_expected_version_rollup'), key_columns=['ping_week', 'major_minor_version'],
    exact_columns=['instances', 'active_users']) }}
