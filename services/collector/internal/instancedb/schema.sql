-- A GitLab instance schema: the subset of GitLab's db/structure.sql that the
-- collector's built-in instrumentation classes (internal/classes) and its demo
-- definitions (testdata/collector/metrics) read. Table and column names and
-- types follow GitLab's structure.sql (enum columns are smallint as there);
-- only the columns something reads are kept.
CREATE TABLE IF NOT EXISTS users (
    id bigserial PRIMARY KEY,
    username text NOT NULL,
    email text NOT NULL,
    state text NOT NULL DEFAULT 'active',          -- active | blocked | deactivated
    user_type smallint,                             -- NULL human, 1 support_bot, 6 service_user, ...
    admin boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    last_activity_on date
);
CREATE TABLE IF NOT EXISTS namespaces (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    path text NOT NULL,
    type text NOT NULL,                             -- User | Group
    owner_id bigint,
    visibility_level integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS projects (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    namespace_id bigint NOT NULL,
    creator_id bigint,
    visibility_level integer NOT NULL DEFAULT 0,    -- 0 private, 10 internal, 20 public
    archived boolean NOT NULL DEFAULT false,
    service_desk_enabled boolean NOT NULL DEFAULT false,
    disable_overriding_approvers_per_merge_request boolean,
    import_type text,
    mirror boolean DEFAULT false NOT NULL,
    mirror_trigger_builds boolean DEFAULT false NOT NULL,
    created_at timestamptz NOT NULL,
    last_activity_at timestamptz
);
CREATE TABLE IF NOT EXISTS milestones (
    id bigserial PRIMARY KEY,
    project_id bigint,
    group_id bigint,
    title text NOT NULL,
    state text NOT NULL DEFAULT 'active',
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS issues (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    author_id bigint,
    milestone_id bigint,
    state_id smallint NOT NULL DEFAULT 1,           -- 1 opened, 2 closed
    confidential boolean NOT NULL DEFAULT false,
    service_desk_reply_to text,
    weight integer,
    issue_type smallint NOT NULL DEFAULT 0,         -- 0 issue, 1 incident, 2 test_case, ...
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    closed_at timestamptz
);
CREATE TABLE IF NOT EXISTS merge_requests (
    id bigserial PRIMARY KEY,
    target_project_id bigint NOT NULL,
    author_id bigint,
    state_id smallint NOT NULL DEFAULT 1,           -- 1 opened, 2 closed, 3 merged, 4 locked
    draft boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (
    id bigserial PRIMARY KEY,
    project_id bigint,
    author_id bigint,
    noteable_type text NOT NULL,                    -- Issue | MergeRequest | Commit | Snippet
    system boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS boards (
    id bigserial PRIMARY KEY,
    project_id bigint,
    group_id bigint,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    id bigserial PRIMARY KEY,
    project_id bigint,
    title text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS ci_pipelines (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    user_id bigint,
    status text NOT NULL,                           -- success | failed | canceled | running
    source smallint NOT NULL DEFAULT 1,             -- 1 push, 2 web, 4 schedule, 5 api
    duration integer,
    config_source integer,                          -- 1 repository_source, 2 auto_devops_source, ...
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS ci_builds (
    id bigserial PRIMARY KEY,
    commit_id bigint NOT NULL,                      -- ci_pipelines.id
    project_id bigint NOT NULL,
    user_id bigint,
    name text NOT NULL,
    status text NOT NULL,
    type text NOT NULL DEFAULT 'Ci::Build',         -- Ci::Build | Ci::Bridge
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS environments (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    name text NOT NULL,
    tier smallint,                                  -- 0 production, 1 staging, 2 testing, 3 development, 4 other
    state text NOT NULL DEFAULT 'available',
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS deployments (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    environment_id bigint NOT NULL,
    user_id bigint,
    status smallint NOT NULL,                       -- 1 running, 2 success, 3 failed, 4 canceled
    created_at timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE TABLE IF NOT EXISTS releases (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    author_id bigint,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS snippets (
    id bigserial PRIMARY KEY,
    author_id bigint NOT NULL,
    project_id bigint,
    type text NOT NULL,                             -- PersonalSnippet | ProjectSnippet
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    id bigserial PRIMARY KEY,
    user_id bigint,
    type text NOT NULL DEFAULT 'Key',               -- Key | DeployKey
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS integrations (
    id bigserial PRIMARY KEY,
    project_id bigint,
    type_new text NOT NULL,                         -- Integrations::Prometheus, ::Slack, ::Jira, ...
    active boolean NOT NULL DEFAULT false,
    pipeline_events boolean DEFAULT false NOT NULL,
    instance boolean DEFAULT false NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS clusters (
    id bigserial PRIMARY KEY,
    user_id bigint,
    cluster_type smallint NOT NULL DEFAULT 3,       -- 1 instance, 2 group, 3 project
    provider_type integer,                          -- 0 user, 1 gcp, 2 aws
    enabled boolean NOT NULL DEFAULT true,
    management_project_id bigint,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS packages_packages (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    package_type smallint NOT NULL,                 -- 1 maven, 2 npm, 3 conan, 4 nuget, 5 pypi, ...
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS todos (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL,
    author_id bigint,
    state text NOT NULL DEFAULT 'pending',
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS project_features (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    repository_access_level integer NOT NULL DEFAULT 20, -- 0 disabled, 10 private, 20 enabled
    builds_access_level integer,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE IF NOT EXISTS project_auto_devops (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    enabled boolean,
    deploy_strategy integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS cluster_providers_gcp (
    id bigserial PRIMARY KEY,
    cluster_id bigint NOT NULL,
    status integer,                                 -- 3 created
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS clusters_applications_cert_managers (
    id bigserial PRIMARY KEY,
    cluster_id bigint NOT NULL,
    status integer NOT NULL,                        -- 3 installed, 5 updated
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS lists (
    id bigserial PRIMARY KEY,
    board_id bigint NOT NULL,
    label_id bigint,
    list_type integer DEFAULT 1 NOT NULL,           -- 0 backlog, 1 label, 2 closed, 3 assignee, 4 milestone, 5 iteration
    "position" integer,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    user_id bigint,
    milestone_id bigint
);
CREATE TABLE IF NOT EXISTS protected_branches (
    id bigserial PRIMARY KEY,
    project_id bigint,
    name character varying NOT NULL,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    code_owner_approval_required boolean DEFAULT false NOT NULL,
    allow_force_push boolean DEFAULT false NOT NULL
);
CREATE TABLE IF NOT EXISTS requirements (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    iid integer NOT NULL,
    issue_id bigint
);
CREATE TABLE IF NOT EXISTS terraform_states (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    locked_at timestamp with time zone,
    locked_by_user_id bigint,
    uuid character varying(32) NOT NULL,
    name character varying(255) NOT NULL,
    versioning_enabled boolean DEFAULT true NOT NULL
);
-- Dropped from GitLab in 16.0 (certificate-based cluster applications);
-- GitLab 13.9's queries still read them. Columns as GitLab's schema had them.
CREATE TABLE IF NOT EXISTS clusters_applications_prometheus (
    id serial PRIMARY KEY,                          -- id: :serial
    cluster_id integer NOT NULL,
    status integer NOT NULL,                        -- 3 installed, 5 updated
    version character varying NOT NULL,
    status_reason text,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    last_update_started_at timestamp with time zone,
    healthy boolean
);
CREATE TABLE IF NOT EXISTS clusters_applications_ingress (
    id serial PRIMARY KEY,                          -- id: :serial
    cluster_id integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    status integer NOT NULL,
    ingress_type integer NOT NULL,
    version character varying NOT NULL,
    cluster_ip character varying,
    status_reason text,
    external_ip character varying
);
CREATE TABLE IF NOT EXISTS cluster_agents (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    created_by_user_id bigint,
    name text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS cluster_agent_tokens (
    id bigserial PRIMARY KEY,
    agent_id bigint NOT NULL,
    status smallint NOT NULL DEFAULT 0,             -- 0 active, 1 revoked
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS suggestions (
    id bigserial PRIMARY KEY,
    note_id bigint NOT NULL,
    relative_order smallint NOT NULL,
    applied boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS events (
    id bigserial PRIMARY KEY,
    project_id bigint,
    author_id bigint NOT NULL,
    action smallint NOT NULL,                       -- 1 created, 5 pushed, 6 commented, 7 merged, ...
    target_type text,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS ci_pipeline_schedules (
    id bigserial PRIMARY KEY,
    project_id bigint,
    owner_id bigint,
    active boolean DEFAULT true,
    created_at timestamptz
);
CREATE TABLE IF NOT EXISTS ci_runners (
    id bigserial PRIMARY KEY,
    runner_type smallint NOT NULL,                  -- 1 instance, 2 group, 3 project
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz,
    contacted_at timestamptz
);
CREATE TABLE IF NOT EXISTS approval_merge_request_rules (
    id bigserial PRIMARY KEY,
    merge_request_id bigint NOT NULL,
    name text NOT NULL,
    rule_type smallint NOT NULL DEFAULT 1,          -- 1 regular, 2 code_owner, 3 report_approver, 4 any_approver
    approvals_required smallint DEFAULT 0 NOT NULL,
    section text,
    modified_from_project_rule boolean DEFAULT false NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS approval_project_rules (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    project_id integer NOT NULL,
    approvals_required smallint DEFAULT 0 NOT NULL,
    name character varying NOT NULL,
    rule_type smallint DEFAULT 0 NOT NULL
);
CREATE TABLE IF NOT EXISTS analytics_cycle_analytics_group_stages (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    relative_position integer,
    start_event_identifier integer NOT NULL,
    end_event_identifier integer NOT NULL,
    group_id bigint NOT NULL,
    hidden boolean DEFAULT false NOT NULL,
    custom boolean DEFAULT true NOT NULL,
    name character varying(255) NOT NULL
);
CREATE TABLE IF NOT EXISTS approval_merge_request_rule_sources (
    id bigserial PRIMARY KEY,
    approval_merge_request_rule_id bigint NOT NULL,
    approval_project_rule_id bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS security_scans (
    id bigserial PRIMARY KEY,
    build_id bigint NOT NULL,
    pipeline_id bigint,
    project_id bigint,
    scan_type smallint NOT NULL,                    -- 1 sast, 2 dependency_scanning, 3 container_scanning, 4 dast, 5 secret_detection, 6 coverage_fuzzing, 7 api_fuzzing, 8 cluster_image_scanning
    status smallint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS historical_data (
    id bigserial PRIMARY KEY,
    active_user_count integer,
    recorded_at timestamptz,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE IF NOT EXISTS analytics_usage_trends_measurements (
    id bigserial PRIMARY KEY,
    count bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    identifier smallint NOT NULL                    -- 1 projects, 2 users, ..., 11 billable_users
);
CREATE TABLE IF NOT EXISTS batched_background_migrations (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    min_value bigint NOT NULL DEFAULT 1,
    max_value bigint NOT NULL,
    batch_size integer NOT NULL,
    sub_batch_size integer NOT NULL,
    "interval" smallint NOT NULL,
    status smallint NOT NULL DEFAULT 0,             -- 0 paused, 1 active, 3 finished, 4 failed, 5 finalizing, 6 finalized
    job_class_name text NOT NULL,
    table_name text NOT NULL,
    column_name text NOT NULL,
    started_at timestamptz,
    finished_at timestamptz
);
CREATE TABLE IF NOT EXISTS geo_nodes (
    id bigserial PRIMARY KEY,
    name character varying NOT NULL,
    url character varying NOT NULL,
    "primary" boolean DEFAULT false NOT NULL,
    created_at timestamptz,
    updated_at timestamptz
);
-- One row: GitLab's Gitlab::CurrentSettings. Settings that GitLab keeps in
-- jsonb_accessor columns live inside jsonb columns, as there; which jsonb
-- column holds which of them here was not checked against structure.sql,
-- and the collector does not depend on it (a setting that is not a column
-- is looked up in every jsonb column).
CREATE TABLE IF NOT EXISTS application_settings (
    id bigserial PRIMARY KEY,
    created_at timestamptz,
    updated_at timestamptz,
    uuid character varying,
    signup_enabled boolean,
    gravatar_enabled boolean,
    auto_devops_enabled boolean DEFAULT true NOT NULL,
    usage_ping_enabled boolean DEFAULT true NOT NULL,
    usage_ping_features_enabled boolean DEFAULT false NOT NULL,
    include_optional_metrics_in_service_ping boolean DEFAULT true NOT NULL,
    snowplow_enabled boolean DEFAULT false NOT NULL,
    elasticsearch_search boolean DEFAULT false NOT NULL,
    deactivate_dormant_users boolean DEFAULT false NOT NULL,
    akismet_enabled boolean DEFAULT false,
    prometheus_metrics_enabled boolean DEFAULT true NOT NULL,
    web_ide_clientside_preview_enabled boolean DEFAULT false NOT NULL,
    elasticsearch_limit_indexing boolean DEFAULT false NOT NULL,
    spam_check_endpoint_enabled boolean DEFAULT false NOT NULL,
    deactivate_dormant_users_period integer DEFAULT 90 NOT NULL,
    new_user_signups_cap integer,
    max_personal_access_token_lifetime integer,
    gitlab_dedicated_instance boolean DEFAULT false NOT NULL,
    allow_runner_registration_token boolean DEFAULT true NOT NULL,
    runner_token_expiration_interval integer,
    license_trial_ends_on date,
    duo_features_enabled boolean,
    lock_duo_features_enabled boolean DEFAULT false NOT NULL,
    package_metadata_purl_types smallint[] DEFAULT '{}'::smallint[],
    service_ping_settings jsonb DEFAULT '{}'::jsonb NOT NULL,
    clickhouse jsonb DEFAULT '{}'::jsonb NOT NULL,
    ci_cd_settings jsonb DEFAULT '{}'::jsonb NOT NULL,
    duo_chat jsonb DEFAULT '{}'::jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS index_issues_on_author_id ON issues (author_id);
CREATE INDEX IF NOT EXISTS index_merge_requests_on_author_id ON merge_requests (author_id);
CREATE INDEX IF NOT EXISTS index_notes_on_author_id ON notes (author_id);
CREATE INDEX IF NOT EXISTS index_ci_pipelines_on_user_id ON ci_pipelines (user_id);
CREATE INDEX IF NOT EXISTS index_ci_builds_on_user_id ON ci_builds (user_id);
CREATE INDEX IF NOT EXISTS index_ci_builds_on_commit_id ON ci_builds (commit_id);
CREATE INDEX IF NOT EXISTS index_deployments_on_user_id ON deployments (user_id);
CREATE INDEX IF NOT EXISTS index_projects_on_creator_id ON projects (creator_id);
CREATE INDEX IF NOT EXISTS index_events_on_author_id ON events (author_id);
CREATE INDEX IF NOT EXISTS index_security_scans_on_pipeline_id ON security_scans (pipeline_id);
CREATE INDEX IF NOT EXISTS index_historical_data_on_recorded_at ON historical_data (recorded_at);
-- Databases seeded before these columns existed get them.
ALTER TABLE projects ADD COLUMN IF NOT EXISTS disable_overriding_approvers_per_merge_request boolean;
ALTER TABLE issues ADD COLUMN IF NOT EXISTS issue_type smallint NOT NULL DEFAULT 0;
ALTER TABLE ci_pipelines ADD COLUMN IF NOT EXISTS config_source integer;
ALTER TABLE clusters ADD COLUMN IF NOT EXISTS provider_type integer;
ALTER TABLE application_settings ADD COLUMN IF NOT EXISTS elasticsearch_search boolean DEFAULT false NOT NULL;
ALTER TABLE application_settings ADD COLUMN IF NOT EXISTS akismet_enabled boolean DEFAULT false;
ALTER TABLE application_settings ADD COLUMN IF NOT EXISTS prometheus_metrics_enabled boolean DEFAULT true NOT NULL;
ALTER TABLE application_settings ADD COLUMN IF NOT EXISTS web_ide_clientside_preview_enabled boolean DEFAULT false NOT NULL;
ALTER TABLE application_settings ADD COLUMN IF NOT EXISTS elasticsearch_limit_indexing boolean DEFAULT false NOT NULL;
ALTER TABLE application_settings ADD COLUMN IF NOT EXISTS spam_check_endpoint_enabled boolean DEFAULT false NOT NULL;
ALTER TABLE approval_merge_request_rules ADD COLUMN IF NOT EXISTS approvals_required smallint DEFAULT 0 NOT NULL;
ALTER TABLE approval_merge_request_rules ADD COLUMN IF NOT EXISTS section text;
ALTER TABLE projects ADD COLUMN IF NOT EXISTS mirror boolean DEFAULT false NOT NULL;
ALTER TABLE projects ADD COLUMN IF NOT EXISTS mirror_trigger_builds boolean DEFAULT false NOT NULL;
ALTER TABLE integrations ADD COLUMN IF NOT EXISTS pipeline_events boolean DEFAULT false NOT NULL;
ALTER TABLE integrations ADD COLUMN IF NOT EXISTS instance boolean DEFAULT false NOT NULL;
ALTER TABLE clusters ADD COLUMN IF NOT EXISTS management_project_id bigint;
ALTER TABLE project_features ADD COLUMN IF NOT EXISTS builds_access_level integer;
ALTER TABLE approval_merge_request_rules ADD COLUMN IF NOT EXISTS modified_from_project_rule boolean DEFAULT false NOT NULL;
