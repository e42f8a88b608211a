-- Fleet fixture (services/loader/internal/dbttest/testdata/fleet/): the
-- dictionary entries the other fleet tests rely on, as they must read in
-- seeds/dim_ping_metric.csv. K1 is 28d and tagged smau, gmau and
-- paid_gmau; K2 28d umau; K3 counts.issues all-time; K4 7d although its
-- key path looks like an all-time counter (no _weekly suffix, root
-- analytics_unique_visits); K5 counts.fleet_widgets must be absent (it
-- would be an unexpected row), so that it exercises the key-path guess.
{{ fleet_compare(
    "select * from " ~ ref('dim_ping_metric') ~ " where " ~ fleet_metric('key_path') ~ " != key_path",
    ref('fleet_expected_dictionary'), key_columns=['key_path'],
    exact_columns=['time_frame', 'is_smau', 'is_gmau', 'is_paid_gmau', 'is_umau']) }}
