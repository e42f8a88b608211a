-- Fleet fixture (services/loader/internal/dbttest/testdata/fleet/):
-- mart_devops_score, every row: the month's last score per uuid.
-- Percentages in feature order issues, notes, milestones, boards,
-- merge_requests, ci_pipelines, environments, deployments,
-- projects_prometheus_active, service_desk_issues. leader_issues is 10, so
-- instance_issues = 10 × percentage_issues / 100.
--   A 2026-01  a3 (not a2, and FINAL keeps a3's _version 2, not the stale 99s):
--              50 30 10 20 60 80 40 20 0 10, sum 320 → overall 32
--              idea 50, issue (50 + 30) / 2 = 40, plan (10 + 20) / 2 = 15, code 60,
--              commit 60, test 80, review (80 + 40) / 2 = 60, staging (40 + 20) / 2 = 30,
--              production 20, feedback (0 + 10) / 2 = 5
--   A 2026-02  a4: 100 nine times and 0 → overall 90, every step 100 but
--              feedback (100 + 0) / 2 = 50
--   E 2026-02  g1 (the Geo site's ping, later than e2, hostname e-geo):
--              12.5 7.5 0 5 25 15 5 2.5 0 2.5, sum 75 → overall 7.5
--              idea 12.5, issue 10, plan 2.5, code 25, commit 25, test 15,
--              review 10, staging 3.75, production 2.5, feedback 1.25
--   C 2026-02  cx: all 40 → overall and every step 40. Its ping is not in
--              the warehouse → hostname null
{{ fleet_compare(
    "select * replace (toString(recorded_at) as recorded_at) from " ~ ref('mart_devops_score'),
    ref('fleet_expected_devops_score'), key_columns=['uuid', 'score_month'],
    exact_columns=['recorded_at', 'hostname'],
    approx_columns=['instance_issues', 'percentage_issues', 'overall_score', 'step_idea', 'step_issue', 'step_plan',
                    'step_code', 'step_commit', 'step_test', 'step_review', 'step_staging', 'step_production', 'step_feedback']) }}
