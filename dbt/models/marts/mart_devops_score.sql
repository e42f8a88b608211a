{{ config(order_by='(uuid, score_month)') }}
-- The DevOps Score (GitLab's Conversational Development Index, see
-- docs/devops-score.md) per instance and month: one row per uuid ×
-- score_month (first day of the month of recorded_at), from the month's
-- last row of serviceping.devops_scores (latest recorded_at, then ping_id;
-- read FINAL through devops_scores_latest). The 30 values keep GitLab's
-- column names: leader_<f>, instance_<f>, percentage_<f> for the ten
-- features. Derived as GitLab's DevOps Report page does:
--   overall_score  mean of the ten percentage_<f>
--   step_<s>       the ten "idea to production" steps, each the mean of
--                  the percentages of its features:
--                  idea = issues; issue = issues, notes; plan = milestones,
--                  boards; code = merge_requests; commit = merge_requests;
--                  test = ci_pipelines; review = ci_pipelines, environments;
--                  staging = environments, deployments; production =
--                  deployments; feedback = projects_prometheus_active,
--                  service_desk_issues.
-- hostname comes from the scored ping (dim_ping_instance, by ping_id); null
-- when that ping is not in the warehouse. The grain is the uuid, as GitLab's
-- score: installations sharing a uuid (gitlab.com and its staging) share a
-- row, the one of the later ping.
with scores as (
    select
        *,
        toStartOfMonth(recorded_at) as score_month,
        row_number() over (
            partition by uuid, toStartOfMonth(recorded_at)
            order by recorded_at desc, ping_id desc
        ) as month_rank
    from {{ source('serviceping', 'devops_scores_latest') }}
),

pings as (
    select ping_id, hostname, true as is_joined
    from {{ ref('dim_ping_instance') }}
)

select
    s.uuid as uuid,
    s.score_month as score_month,
    s.ping_id as ping_id,
    s.usage_data_id as usage_data_id,
    s.recorded_at as recorded_at,
    if(ifNull(p.is_joined, false), p.hostname, null) as hostname,
    s.previous_ping_id as previous_ping_id,
    s.previous_recorded_at as previous_recorded_at,
    s.active_user_count as active_user_count,
    s.leaders_computed_at as leaders_computed_at,
    s.leaders_instances as leaders_instances,
    s.leader_issues as leader_issues,
    s.instance_issues as instance_issues,
    s.percentage_issues as percentage_issues,
    s.leader_notes as leader_notes,
    s.instance_notes as instance_notes,
    s.percentage_notes as percentage_notes,
    s.leader_milestones as leader_milestones,
    s.instance_milestones as instance_milestones,
    s.percentage_milestones as percentage_milestones,
    s.leader_boards as leader_boards,
    s.instance_boards as instance_boards,
    s.percentage_boards as percentage_boards,
    s.leader_merge_requests as leader_merge_requests,
    s.instance_merge_requests as instance_merge_requests,
    s.percentage_merge_requests as percentage_merge_requests,
    s.leader_ci_pipelines as leader_ci_pipelines,
    s.instance_ci_pipelines as instance_ci_pipelines,
    s.percentage_ci_pipelines as percentage_ci_pipelines,
    s.leader_environments as leader_environments,
    s.instance_environments as instance_environments,
    s.percentage_environments as percentage_environments,
    s.leader_deployments as leader_deployments,
    s.instance_deployments as instance_deployments,
    s.percentage_deployments as percentage_deployments,
    s.leader_projects_prometheus_active as leader_projects_prometheus_active,
    s.instance_projects_prometheus_active as instance_projects_prometheus_active,
    s.percentage_projects_prometheus_active as percentage_projects_prometheus_active,
    s.leader_service_desk_issues as leader_service_desk_issues,
    s.instance_service_desk_issues as instance_service_desk_issues,
    s.percentage_service_desk_issues as percentage_service_desk_issues,
    (
        s.percentage_issues
        + s.percentage_notes
        + s.percentage_milestones
        + s.percentage_boards
        + s.percentage_merge_requests
        + s.percentage_ci_pipelines
        + s.percentage_environments
        + s.percentage_deployments
        + s.percentage_projects_prometheus_active
        + s.percentage_service_desk_issues
    ) / 10 as overall_score,
    s.percentage_issues as step_idea,
    (s.percentage_issues + s.percentage_notes) / 2 as step_issue,
    (s.percentage_milestones + s.percentage_boards) / 2 as step_plan,
    s.percentage_merge_requests as step_code,
    s.percentage_merge_requests as step_commit,
    s.percentage_ci_pipelines as step_test,
    (s.percentage_ci_pipelines + s.percentage_environments) / 2 as step_review,
    (s.percentage_environments + s.percentage_deployments) / 2 as step_staging,
    s.percentage_deployments as step_production,
    (s.percentage_projects_prometheus_active + s.percentage_service_desk_issues) / 2 as step_feedback
from scores as s
left join pings as p on p.ping_id = s.ping_id
where s.month_rank = 1
