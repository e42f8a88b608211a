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
    last_activity_on date,
    group_view integer
);
CREATE TABLE IF NOT EXISTS namespaces (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    path text NOT NULL,
    type text NOT NULL,                             -- User | Group
    owner_id bigint,
    visibility_level integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    custom_project_templates_group_id bigint
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
    inherit_from_id bigint,                         -- the instance or group integration it inherits from
    group_id bigint,
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
CREATE TABLE IF NOT EXISTS clusters_applications_helm (
    id serial PRIMARY KEY,                          -- id: :serial
    cluster_id integer NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    status integer NOT NULL,                        -- 3 installed, 5 updated
    version character varying NOT NULL,
    status_reason text
);
CREATE TABLE IF NOT EXISTS clusters_applications_jupyter (
    id serial PRIMARY KEY,                          -- id: :serial
    cluster_id integer NOT NULL,
    oauth_application_id integer,
    status integer NOT NULL,
    version character varying NOT NULL,
    hostname character varying,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    status_reason text
);
CREATE TABLE IF NOT EXISTS clusters_applications_runners (
    id serial PRIMARY KEY,                          -- id: :serial
    cluster_id integer NOT NULL,
    runner_id integer,
    status integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    version character varying NOT NULL,
    status_reason text,
    privileged boolean DEFAULT true NOT NULL
);
-- clusters_applications_cilium was dropped in 16.0; as the drop migration's down recreates it.
CREATE TABLE IF NOT EXISTS clusters_applications_cilium (
    id bigserial PRIMARY KEY,
    cluster_id bigint NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    status integer NOT NULL,                        -- 1 scheduled, 2 installing, 3 installed, 5 updated; one of: 1, 2, 3, 5
    status_reason text
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
CREATE TABLE IF NOT EXISTS cluster_providers_aws (
    id bigserial PRIMARY KEY,
    cluster_id bigint NOT NULL,
    num_nodes integer NOT NULL,
    status integer NOT NULL,                        -- 1 scheduled, 2 creating, 3 created, 4 errored
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    key_name character varying(255) NOT NULL,
    role_arn character varying(2048) NOT NULL,
    region character varying(255) NOT NULL,
    vpc_id character varying(255) NOT NULL,
    subnet_ids character varying(255)[] DEFAULT '{}'::character varying[] NOT NULL,
    security_group_id character varying(255) NOT NULL,
    instance_type character varying(255) NOT NULL,
    status_reason text,
    kubernetes_version text DEFAULT '1.14'::text NOT NULL
);
CREATE TABLE IF NOT EXISTS lfs_file_locks (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    user_id bigint NOT NULL,
    created_at timestamp without time zone NOT NULL,
    path character varying(511)
);
CREATE TABLE IF NOT EXISTS epic_issues (
    id bigserial PRIMARY KEY,
    epic_id bigint NOT NULL,
    issue_id bigint NOT NULL,
    relative_position integer,
    namespace_id bigint
);
CREATE TABLE IF NOT EXISTS ci_triggers (
    id bigserial PRIMARY KEY,
    token character varying,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    project_id bigint,
    owner_id bigint NOT NULL,
    description character varying
);
CREATE TABLE IF NOT EXISTS ldap_group_links (
    id bigserial PRIMARY KEY,
    cn character varying,
    group_access integer NOT NULL,                  -- 10 guest, 20 reporter, 30 developer, 40 maintainer, 50 owner
    group_id bigint NOT NULL,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    provider character varying,
    filter character varying
);
CREATE TABLE IF NOT EXISTS status_page_settings (
    project_id bigserial PRIMARY KEY,               -- GitLab's key, with its own sequence
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    enabled boolean DEFAULT false NOT NULL,
    aws_s3_bucket_name character varying(63) NOT NULL,
    aws_region character varying(255) NOT NULL,
    aws_access_key character varying(255) NOT NULL,
    status_page_url text
);
CREATE TABLE IF NOT EXISTS requirements_management_test_reports (
    id bigserial PRIMARY KEY,
    created_at timestamp with time zone NOT NULL,
    author_id bigint,
    state smallint NOT NULL,                        -- 1 passed, 2 failed
    build_id bigint,                                -- NULL when reported by hand
    issue_id bigint,
    uses_legacy_iid boolean DEFAULT true NOT NULL,
    project_id bigint
);
CREATE TABLE IF NOT EXISTS project_compliance_framework_settings (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    framework_id bigint,
    created_at timestamp with time zone
);
-- One row: GitLab's Gitlab::CurrentSettings — every column of GitLab's
-- application_settings in its structure.sql, in its order, with its types
-- and defaults (check constraints left out), so a setting the seed does not
-- set answers GitLab's default. Settings that GitLab keeps in jsonb_accessor
-- columns live inside its jsonb columns (zoekt_settings, service_ping_settings,
-- clickhouse, …); the collector looks a setting that is not a column up in
-- every jsonb column.
-- Tables GitLab 13.9's usage data queries count (classes/usage_data_queries.json),
-- filled by their columns' shape alone (instancedb.fill): any realistic spread of
-- values does for a count or a condition on them.
CREATE TABLE IF NOT EXISTS alert_management_alerts (
    id bigserial PRIMARY KEY,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    started_at timestamp with time zone NOT NULL,
    iid integer NOT NULL,
    severity smallint DEFAULT 0 NOT NULL,
    status smallint DEFAULT 0 NOT NULL,
    issue_id bigint,
    project_id bigint NOT NULL,
    title text NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_management_http_integrations (
    id bigserial PRIMARY KEY,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    project_id bigint NOT NULL,
    active boolean DEFAULT false NOT NULL,
    encrypted_token text NOT NULL,
    encrypted_token_iv text NOT NULL,
    endpoint_identifier text NOT NULL,
    name text NOT NULL,
    type_identifier smallint DEFAULT 0 NOT NULL
);
CREATE TABLE IF NOT EXISTS epics (
    id bigserial PRIMARY KEY,
    group_id bigint NOT NULL,
    author_id bigint NOT NULL,
    iid integer NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    title character varying NOT NULL,
    title_html character varying NOT NULL,
    parent_id bigint,
    state_id smallint DEFAULT 1 NOT NULL,
    confidential boolean DEFAULT false NOT NULL
);
CREATE TABLE IF NOT EXISTS identities (
    id bigserial PRIMARY KEY,
    extern_uid character varying,
    provider character varying,                     -- one of: ldapmain, github, google_oauth2, saml
    user_id bigint,
    created_at timestamp without time zone,
    updated_at timestamp without time zone
);
CREATE TABLE IF NOT EXISTS pages_domains (
    id bigserial PRIMARY KEY,
    project_id bigint,
    domain character varying,
    verified_at timestamp with time zone,
    verification_code character varying NOT NULL,
    auto_ssl_enabled boolean DEFAULT false NOT NULL
);
CREATE TABLE IF NOT EXISTS path_locks (
    id bigserial PRIMARY KEY,
    path character varying NOT NULL,
    project_id bigint,
    user_id bigint,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);
CREATE TABLE IF NOT EXISTS pool_repositories (
    id bigserial PRIMARY KEY,
    shard_id bigint NOT NULL,
    disk_path character varying,
    state character varying,
    source_project_id bigint
);
CREATE TABLE IF NOT EXISTS approval_project_rules_users (
    id bigserial PRIMARY KEY,
    approval_project_rule_id bigint NOT NULL,
    user_id bigint NOT NULL,
    project_id bigint
);
CREATE TABLE IF NOT EXISTS authentication_events (
    id bigserial PRIMARY KEY,
    created_at timestamp with time zone NOT NULL,
    user_id bigint,
    result smallint NOT NULL,                       -- 0 failed, 1 success; one of: 0, 1
    ip_address inet,
    provider text NOT NULL,                         -- one of: standard, two-factor, two-factor-via-u2f-device, two-factor-via-webauthn-device, ldapmain
    user_name text NOT NULL
);
CREATE TABLE IF NOT EXISTS container_expiration_policies (
    project_id bigint PRIMARY KEY,                  -- GitLab's key: one policy a project
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    next_run_at timestamp with time zone,
    name_regex character varying(255) DEFAULT '.*'::character varying,
    cadence character varying(12) DEFAULT '1d'::character varying NOT NULL, -- one of: 1d, 7d, 14d, 1month, 3month
    older_than character varying(12) DEFAULT '90d'::character varying,      -- one of: 7d, 14d, 30d, 90d
    keep_n integer DEFAULT 10,
    enabled boolean DEFAULT false NOT NULL,
    name_regex_keep text
);
CREATE TABLE IF NOT EXISTS jira_imports (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    user_id bigint,
    label_id bigint,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone,
    jira_project_xid bigint NOT NULL,
    total_issue_count integer DEFAULT 0 NOT NULL,
    imported_issues_count integer DEFAULT 0 NOT NULL,
    failed_to_import_count integer DEFAULT 0 NOT NULL,
    status smallint DEFAULT 0 NOT NULL,             -- initial, scheduled, started, failed, finished; one of: 0, 1, 2, 3, 4
    jid character varying(255),
    jira_project_key character varying(255) NOT NULL,
    jira_project_name character varying(255) NOT NULL,
    scheduled_at timestamp with time zone,
    error_message text
);
CREATE TABLE IF NOT EXISTS jira_tracker_data (
    id bigserial PRIMARY KEY,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    encrypted_url character varying,
    encrypted_url_iv character varying,
    encrypted_api_url character varying,
    encrypted_api_url_iv character varying,
    encrypted_username character varying,
    encrypted_username_iv character varying,
    encrypted_password character varying,
    encrypted_password_iv character varying,
    jira_issue_transition_id character varying,
    project_key text,
    issues_enabled boolean DEFAULT false NOT NULL,
    deployment_type smallint DEFAULT 0 NOT NULL,
    vulnerabilities_issuetype text,
    vulnerabilities_enabled boolean DEFAULT false NOT NULL,
    jira_issue_transition_automatic boolean DEFAULT false NOT NULL,
    integration_id bigint,
    jira_issue_prefix text,
    jira_issue_regex text,
    jira_auth_type smallint DEFAULT 0 NOT NULL,
    customize_jira_issue_enabled boolean DEFAULT false,
    instance_integration_id bigint
);
CREATE TABLE IF NOT EXISTS members (
    id bigserial PRIMARY KEY,
    access_level integer NOT NULL,                  -- one of: 10, 20, 30, 40, 50
    source_id bigint NOT NULL,
    source_type character varying NOT NULL,         -- one of: Namespace, Project
    user_id bigint,
    notification_level integer NOT NULL,
    type character varying,                         -- one of: GroupMember, ProjectMember
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    created_by_id bigint,
    invite_email character varying,
    invite_token character varying,
    invite_accepted_at timestamp without time zone,
    requested_at timestamp without time zone,
    expires_at date,
    ldap boolean DEFAULT false NOT NULL,
    override boolean DEFAULT false NOT NULL,
    state smallint DEFAULT 0,
    invite_email_success boolean DEFAULT true NOT NULL,
    member_namespace_id bigint,
    member_role_id bigint,
    expiry_notified_at timestamp with time zone,
    request_accepted_at timestamp with time zone
);
CREATE TABLE IF NOT EXISTS remote_mirrors (
    id bigserial PRIMARY KEY,
    project_id bigint,
    url character varying,
    enabled boolean DEFAULT false,
    update_status character varying,                -- one of: none, scheduled, started, finished, failed
    last_update_at timestamp without time zone,
    last_successful_update_at timestamp without time zone,
    last_error character varying,
    encrypted_credentials text,
    encrypted_credentials_iv character varying,
    encrypted_credentials_salt character varying,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    last_update_started_at timestamp without time zone,
    only_protected_branches boolean DEFAULT false NOT NULL,
    remote_name character varying,
    error_notification_sent boolean,
    keep_divergent_refs boolean,
    mirror_branch_regex text
);
CREATE TABLE IF NOT EXISTS status_page_published_incidents (
    id bigserial PRIMARY KEY,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    issue_id bigint NOT NULL,
    namespace_id bigint
);
CREATE TABLE IF NOT EXISTS project_incident_management_settings (
    project_id bigserial PRIMARY KEY,               -- GitLab's key, with its own sequence
    create_issue boolean DEFAULT false NOT NULL,
    send_email boolean DEFAULT false NOT NULL,
    issue_template_key text,
    pagerduty_active boolean DEFAULT false NOT NULL,
    auto_close_incident boolean DEFAULT true NOT NULL,
    sla_timer boolean DEFAULT false,
    sla_timer_minutes integer
);
CREATE TABLE IF NOT EXISTS users_ops_dashboard_projects (
    id bigserial PRIMARY KEY,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    user_id bigint NOT NULL,
    project_id bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS application_settings (
    id bigserial PRIMARY KEY,
    default_projects_limit integer,
    signup_enabled boolean,
    gravatar_enabled boolean,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    home_page_url character varying,
    default_branch_protection integer DEFAULT 2,
    restricted_visibility_levels text,
    version_check_enabled boolean DEFAULT true,
    max_attachment_size integer DEFAULT 100 NOT NULL,
    default_project_visibility integer DEFAULT 0 NOT NULL,
    default_snippet_visibility integer DEFAULT 0 NOT NULL,
    user_oauth_applications boolean DEFAULT true,
    after_sign_out_path character varying,
    session_expire_delay integer DEFAULT 10080 NOT NULL,
    import_sources text,
    help_page_text text,
    require_admin_two_factor_authentication boolean DEFAULT false NOT NULL,
    shared_runners_enabled boolean DEFAULT true NOT NULL,
    max_artifacts_size integer DEFAULT 100 NOT NULL,
    max_pages_size integer DEFAULT 100 NOT NULL,
    require_two_factor_authentication boolean DEFAULT false,
    two_factor_grace_period integer DEFAULT 48,
    metrics_enabled boolean DEFAULT false,
    metrics_host character varying DEFAULT 'localhost'::character varying,
    metrics_pool_size integer DEFAULT 16,
    metrics_timeout integer DEFAULT 10,
    metrics_method_call_threshold integer DEFAULT 10,
    recaptcha_enabled boolean DEFAULT false,
    metrics_port integer DEFAULT 8089,
    akismet_enabled boolean DEFAULT false,
    metrics_sample_interval integer DEFAULT 15,
    email_author_in_body boolean DEFAULT false,
    default_group_visibility integer,
    repository_checks_enabled boolean DEFAULT false,
    shared_runners_text text,
    metrics_packet_size integer DEFAULT 1,
    disabled_oauth_sign_in_sources text,
    health_check_access_token character varying,
    container_registry_token_expire_delay integer DEFAULT 5,
    after_sign_up_text text,
    user_default_external boolean DEFAULT false NOT NULL,
    repository_storages character varying DEFAULT 'default'::character varying,
    enabled_git_access_protocol character varying,
    usage_ping_enabled boolean DEFAULT true NOT NULL,
    help_page_text_html text,
    shared_runners_text_html text,
    after_sign_up_text_html text,
    rsa_key_restriction integer DEFAULT 0 NOT NULL,
    dsa_key_restriction integer DEFAULT '-1'::integer NOT NULL,
    ecdsa_key_restriction integer DEFAULT 0 NOT NULL,
    ed25519_key_restriction integer DEFAULT 0 NOT NULL,
    housekeeping_enabled boolean DEFAULT true NOT NULL,
    housekeeping_bitmaps_enabled boolean DEFAULT true NOT NULL,
    housekeeping_incremental_repack_period integer DEFAULT 10 NOT NULL,
    housekeeping_full_repack_period integer DEFAULT 50 NOT NULL,
    housekeeping_gc_period integer DEFAULT 200 NOT NULL,
    html_emails_enabled boolean DEFAULT true,
    plantuml_url character varying,
    plantuml_enabled boolean,
    shared_runners_minutes integer DEFAULT 0 NOT NULL,
    repository_size_limit bigint DEFAULT 0,
    terminal_max_session_time integer DEFAULT 0 NOT NULL,
    unique_ips_limit_per_user integer,
    unique_ips_limit_time_window integer,
    unique_ips_limit_enabled boolean DEFAULT false NOT NULL,
    default_artifacts_expire_in character varying DEFAULT '0'::character varying NOT NULL,
    elasticsearch_url character varying DEFAULT 'http://localhost:9200'::character varying,
    geo_status_timeout integer DEFAULT 10,
    uuid character varying,
    polling_interval_multiplier numeric DEFAULT 1.0 NOT NULL,
    cached_markdown_version integer,
    check_namespace_plan boolean DEFAULT false NOT NULL,
    mirror_max_delay integer DEFAULT 300 NOT NULL,
    mirror_max_capacity integer DEFAULT 100 NOT NULL,
    mirror_capacity_threshold integer DEFAULT 50 NOT NULL,
    prometheus_metrics_enabled boolean DEFAULT true NOT NULL,
    authorized_keys_enabled boolean DEFAULT true NOT NULL,
    help_page_hide_commercial_content boolean DEFAULT false,
    help_page_support_url character varying,
    slack_app_enabled boolean DEFAULT false,
    slack_app_id character varying,
    performance_bar_allowed_group_id bigint,
    allow_group_owners_to_manage_ldap boolean DEFAULT true NOT NULL,
    hashed_storage_enabled boolean DEFAULT true NOT NULL,
    project_export_enabled boolean DEFAULT true NOT NULL,
    auto_devops_enabled boolean DEFAULT true NOT NULL,
    throttle_unauthenticated_enabled boolean DEFAULT false NOT NULL,
    throttle_unauthenticated_requests_per_period integer DEFAULT 3600 NOT NULL,
    throttle_unauthenticated_period_in_seconds integer DEFAULT 3600 NOT NULL,
    throttle_authenticated_api_enabled boolean DEFAULT false NOT NULL,
    throttle_authenticated_api_requests_per_period integer DEFAULT 7200 NOT NULL,
    throttle_authenticated_api_period_in_seconds integer DEFAULT 3600 NOT NULL,
    throttle_authenticated_web_enabled boolean DEFAULT false NOT NULL,
    throttle_authenticated_web_requests_per_period integer DEFAULT 7200 NOT NULL,
    throttle_authenticated_web_period_in_seconds integer DEFAULT 3600 NOT NULL,
    gitaly_timeout_default integer DEFAULT 55 NOT NULL,
    gitaly_timeout_medium integer DEFAULT 30 NOT NULL,
    gitaly_timeout_fast integer DEFAULT 10 NOT NULL,
    mirror_available boolean DEFAULT true NOT NULL,
    password_authentication_enabled_for_web boolean,
    password_authentication_enabled_for_git boolean DEFAULT true NOT NULL,
    auto_devops_domain character varying,
    external_authorization_service_enabled boolean DEFAULT false NOT NULL,
    external_authorization_service_url character varying,
    external_authorization_service_default_label character varying,
    pages_domain_verification_enabled boolean DEFAULT true NOT NULL,
    user_default_internal_regex character varying,
    external_authorization_service_timeout double precision DEFAULT 0.5,
    external_auth_client_cert text,
    encrypted_external_auth_client_key text,
    encrypted_external_auth_client_key_iv character varying,
    encrypted_external_auth_client_key_pass character varying,
    encrypted_external_auth_client_key_pass_iv character varying,
    email_additional_text character varying,
    enforce_terms boolean DEFAULT false,
    file_template_project_id bigint,
    pseudonymizer_enabled boolean DEFAULT false NOT NULL,
    hide_third_party_offers boolean DEFAULT false NOT NULL,
    snowplow_enabled boolean DEFAULT false NOT NULL,
    snowplow_collector_hostname character varying,
    snowplow_cookie_domain character varying,
    user_show_add_ssh_key_message boolean DEFAULT true NOT NULL,
    custom_project_templates_group_id bigint,
    usage_stats_set_by_user_id bigint,
    receive_max_input_size integer,
    diff_max_patch_bytes integer DEFAULT 204800 NOT NULL,
    archive_builds_in_seconds integer,
    commit_email_hostname character varying,
    protected_ci_variables boolean DEFAULT true NOT NULL,
    runners_registration_token_encrypted character varying,
    local_markdown_version integer DEFAULT 0 NOT NULL,
    first_day_of_week integer DEFAULT 0 NOT NULL,
    default_project_creation integer DEFAULT 2 NOT NULL,
    lets_encrypt_notification_email character varying,
    lets_encrypt_terms_of_service_accepted boolean DEFAULT false NOT NULL,
    geo_node_allowed_ips character varying DEFAULT '0.0.0.0/0, ::/0'::character varying,
    encrypted_lets_encrypt_private_key text,
    encrypted_lets_encrypt_private_key_iv text,
    dns_rebinding_protection_enabled boolean DEFAULT true NOT NULL,
    default_project_deletion_protection boolean DEFAULT false NOT NULL,
    grafana_enabled boolean DEFAULT false NOT NULL,
    lock_memberships_to_ldap boolean DEFAULT false NOT NULL,
    time_tracking_limit_to_hours boolean DEFAULT false NOT NULL,
    grafana_url character varying DEFAULT '/-/grafana'::character varying NOT NULL,
    login_recaptcha_protection_enabled boolean DEFAULT false NOT NULL,
    outbound_local_requests_whitelist character varying(255)[] DEFAULT '{}'::character varying[] NOT NULL,
    raw_blob_request_limit integer DEFAULT 300 NOT NULL,
    allow_local_requests_from_web_hooks_and_services boolean DEFAULT false NOT NULL,
    allow_local_requests_from_system_hooks boolean DEFAULT true NOT NULL,
    asset_proxy_enabled boolean DEFAULT false NOT NULL,
    asset_proxy_url character varying,
    encrypted_asset_proxy_secret_key text,
    encrypted_asset_proxy_secret_key_iv character varying,
    static_objects_external_storage_url character varying(255),
    max_personal_access_token_lifetime integer,
    throttle_protected_paths_enabled boolean DEFAULT false NOT NULL,
    throttle_protected_paths_requests_per_period integer DEFAULT 10 NOT NULL,
    throttle_protected_paths_period_in_seconds integer DEFAULT 60 NOT NULL,
    protected_paths character varying(255)[] DEFAULT '{/users/password,/users/sign_in,/api/v3/session.json,/api/v3/session,/api/v4/session.json,/api/v4/session,/users,/users/confirmation,/unsubscribes/,/import/github/personal_access_token,/admin/session}'::character varying[],
    throttle_incident_management_notification_enabled boolean DEFAULT false NOT NULL,
    throttle_incident_management_notification_period_in_seconds integer DEFAULT 3600,
    throttle_incident_management_notification_per_period integer DEFAULT 3600,
    push_event_hooks_limit integer DEFAULT 3 NOT NULL,
    push_event_activities_limit integer DEFAULT 3 NOT NULL,
    custom_http_clone_url_root character varying(511),
    deletion_adjourned_period integer DEFAULT 7 NOT NULL,
    license_trial_ends_on date,
    eks_integration_enabled boolean DEFAULT false NOT NULL,
    eks_account_id character varying(128),
    eks_access_key_id character varying(128),
    encrypted_eks_secret_access_key_iv character varying(255),
    encrypted_eks_secret_access_key text,
    snowplow_app_id character varying,
    productivity_analytics_start_date timestamp with time zone,
    default_ci_config_path character varying(255),
    sourcegraph_enabled boolean DEFAULT false NOT NULL,
    sourcegraph_url character varying(255),
    sourcegraph_public_only boolean DEFAULT true NOT NULL,
    snippet_size_limit bigint DEFAULT 52428800 NOT NULL,
    minimum_password_length integer DEFAULT 8 NOT NULL,
    encrypted_akismet_api_key text,
    encrypted_akismet_api_key_iv character varying(255),
    encrypted_elasticsearch_aws_secret_access_key text,
    encrypted_elasticsearch_aws_secret_access_key_iv character varying(255),
    encrypted_recaptcha_private_key text,
    encrypted_recaptcha_private_key_iv character varying(255),
    encrypted_recaptcha_site_key text,
    encrypted_recaptcha_site_key_iv character varying(255),
    encrypted_slack_app_secret text,
    encrypted_slack_app_secret_iv character varying(255),
    encrypted_slack_app_verification_token text,
    encrypted_slack_app_verification_token_iv character varying(255),
    force_pages_access_control boolean DEFAULT false NOT NULL,
    updating_name_disabled_for_users boolean DEFAULT false NOT NULL,
    disable_overriding_approvers_per_merge_request boolean DEFAULT false NOT NULL,
    prevent_merge_requests_author_approval boolean DEFAULT false NOT NULL,
    prevent_merge_requests_committers_approval boolean DEFAULT false NOT NULL,
    email_restrictions_enabled boolean DEFAULT false NOT NULL,
    email_restrictions text,
    npm_package_requests_forwarding boolean DEFAULT true NOT NULL,
    container_expiration_policies_enable_historic_entries boolean DEFAULT false NOT NULL,
    issues_create_limit integer DEFAULT 0 NOT NULL,
    push_rule_id bigint,
    group_owners_can_manage_default_branch_protection boolean DEFAULT true NOT NULL,
    container_registry_vendor text DEFAULT ''::text NOT NULL,
    container_registry_version text DEFAULT ''::text NOT NULL,
    container_registry_features text[] DEFAULT '{}'::text[] NOT NULL,
    spam_check_endpoint_url text,
    spam_check_endpoint_enabled boolean DEFAULT false NOT NULL,
    repository_storages_weighted jsonb DEFAULT '{}'::jsonb NOT NULL,
    max_import_size integer DEFAULT 0 NOT NULL,
    compliance_frameworks smallint[] DEFAULT '{}'::smallint[] NOT NULL,
    notify_on_unknown_sign_in boolean DEFAULT true NOT NULL,
    default_branch_name text,
    project_import_limit integer DEFAULT 6 NOT NULL,
    project_export_limit integer DEFAULT 6 NOT NULL,
    project_download_export_limit integer DEFAULT 1 NOT NULL,
    group_import_limit integer DEFAULT 6 NOT NULL,
    group_export_limit integer DEFAULT 6 NOT NULL,
    group_download_export_limit integer DEFAULT 1 NOT NULL,
    maintenance_mode boolean DEFAULT false NOT NULL,
    maintenance_mode_message text,
    wiki_page_max_content_bytes bigint DEFAULT 52428800 NOT NULL,
    enforce_namespace_storage_limit boolean DEFAULT false NOT NULL,
    container_registry_delete_tags_service_timeout integer DEFAULT 250 NOT NULL,
    kroki_url character varying,
    kroki_enabled boolean,
    gitpod_enabled boolean DEFAULT false NOT NULL,
    gitpod_url text DEFAULT 'https://gitpod.io/'::text,
    abuse_notification_email character varying,
    require_admin_approval_after_user_signup boolean DEFAULT true NOT NULL,
    help_page_documentation_base_url text,
    automatic_purchased_storage_allocation boolean DEFAULT false NOT NULL,
    encrypted_ci_jwt_signing_key text,
    encrypted_ci_jwt_signing_key_iv text,
    container_registry_expiration_policies_worker_capacity integer DEFAULT 4 NOT NULL,
    secret_detection_token_revocation_enabled boolean DEFAULT false NOT NULL,
    secret_detection_token_revocation_url text,
    encrypted_secret_detection_token_revocation_token text,
    encrypted_secret_detection_token_revocation_token_iv text,
    domain_denylist_enabled boolean DEFAULT false,
    domain_denylist text,
    domain_allowlist text,
    new_user_signups_cap integer,
    encrypted_cloud_license_auth_token text,
    encrypted_cloud_license_auth_token_iv text,
    secret_detection_revocation_token_types_url text,
    disable_feed_token boolean DEFAULT false NOT NULL,
    personal_access_token_prefix text DEFAULT 'glpat-'::text,
    rate_limiting_response_text text,
    invisible_captcha_enabled boolean DEFAULT false NOT NULL,
    container_registry_cleanup_tags_service_max_list_size integer DEFAULT 200 NOT NULL,
    git_two_factor_session_expiry integer DEFAULT 15 NOT NULL,
    keep_latest_artifact boolean DEFAULT true NOT NULL,
    notes_create_limit integer DEFAULT 300 NOT NULL,
    notes_create_limit_allowlist text[] DEFAULT '{}'::text[] NOT NULL,
    kroki_formats jsonb DEFAULT '{}'::jsonb NOT NULL,
    asset_proxy_whitelist text,
    admin_mode boolean DEFAULT false NOT NULL,
    external_pipeline_validation_service_timeout integer,
    encrypted_external_pipeline_validation_service_token text,
    encrypted_external_pipeline_validation_service_token_iv text,
    external_pipeline_validation_service_url text,
    throttle_unauthenticated_packages_api_requests_per_period integer DEFAULT 800 NOT NULL,
    throttle_unauthenticated_packages_api_period_in_seconds integer DEFAULT 15 NOT NULL,
    throttle_authenticated_packages_api_requests_per_period integer DEFAULT 1000 NOT NULL,
    throttle_authenticated_packages_api_period_in_seconds integer DEFAULT 15 NOT NULL,
    throttle_unauthenticated_packages_api_enabled boolean DEFAULT false NOT NULL,
    throttle_authenticated_packages_api_enabled boolean DEFAULT false NOT NULL,
    deactivate_dormant_users boolean DEFAULT false NOT NULL,
    whats_new_variant smallint DEFAULT 0,
    encrypted_spam_check_api_key bytea,
    encrypted_spam_check_api_key_iv bytea,
    floc_enabled boolean DEFAULT false NOT NULL,
    encrypted_elasticsearch_password bytea,
    encrypted_elasticsearch_password_iv bytea,
    diff_max_lines integer DEFAULT 50000 NOT NULL,
    diff_max_files integer DEFAULT 1000 NOT NULL,
    valid_runner_registrars character varying[] DEFAULT '{project,group}'::character varying[],
    encrypted_mailgun_signing_key bytea,
    encrypted_mailgun_signing_key_iv bytea,
    mailgun_events_enabled boolean DEFAULT false NOT NULL,
    usage_ping_features_enabled boolean DEFAULT false NOT NULL,
    encrypted_customers_dot_jwt_signing_key bytea,
    encrypted_customers_dot_jwt_signing_key_iv bytea,
    pypi_package_requests_forwarding boolean DEFAULT true NOT NULL,
    throttle_unauthenticated_files_api_requests_per_period integer DEFAULT 125 NOT NULL,
    throttle_unauthenticated_files_api_period_in_seconds integer DEFAULT 15 NOT NULL,
    throttle_authenticated_files_api_requests_per_period integer DEFAULT 500 NOT NULL,
    throttle_authenticated_files_api_period_in_seconds integer DEFAULT 15 NOT NULL,
    throttle_unauthenticated_files_api_enabled boolean DEFAULT false NOT NULL,
    throttle_authenticated_files_api_enabled boolean DEFAULT false NOT NULL,
    max_yaml_size_bytes bigint DEFAULT 2097152 NOT NULL,
    max_yaml_depth integer DEFAULT 100 NOT NULL,
    throttle_authenticated_git_lfs_requests_per_period integer DEFAULT 1000 NOT NULL,
    throttle_authenticated_git_lfs_period_in_seconds integer DEFAULT 60 NOT NULL,
    throttle_authenticated_git_lfs_enabled boolean DEFAULT false NOT NULL,
    user_deactivation_emails_enabled boolean DEFAULT true NOT NULL,
    throttle_unauthenticated_api_enabled boolean DEFAULT false NOT NULL,
    throttle_unauthenticated_api_requests_per_period integer DEFAULT 3600 NOT NULL,
    throttle_unauthenticated_api_period_in_seconds integer DEFAULT 3600 NOT NULL,
    jobs_per_stage_page_size integer DEFAULT 200 NOT NULL,
    sidekiq_job_limiter_mode smallint DEFAULT 1 NOT NULL,
    sidekiq_job_limiter_compression_threshold_bytes integer DEFAULT 100000 NOT NULL,
    sidekiq_job_limiter_limit_bytes integer DEFAULT 0 NOT NULL,
    suggest_pipeline_enabled boolean DEFAULT true NOT NULL,
    throttle_unauthenticated_deprecated_api_requests_per_period integer DEFAULT 1800 NOT NULL,
    throttle_unauthenticated_deprecated_api_period_in_seconds integer DEFAULT 3600 NOT NULL,
    throttle_unauthenticated_deprecated_api_enabled boolean DEFAULT false NOT NULL,
    throttle_authenticated_deprecated_api_requests_per_period integer DEFAULT 3600 NOT NULL,
    throttle_authenticated_deprecated_api_period_in_seconds integer DEFAULT 3600 NOT NULL,
    throttle_authenticated_deprecated_api_enabled boolean DEFAULT false NOT NULL,
    dependency_proxy_ttl_group_policy_worker_capacity smallint DEFAULT 2 NOT NULL,
    content_validation_endpoint_url text,
    encrypted_content_validation_api_key bytea,
    encrypted_content_validation_api_key_iv bytea,
    content_validation_endpoint_enabled boolean DEFAULT false NOT NULL,
    sentry_enabled boolean DEFAULT false NOT NULL,
    sentry_dsn text,
    sentry_clientside_dsn text,
    sentry_environment text,
    max_ssh_key_lifetime integer,
    static_objects_external_storage_auth_token_encrypted text,
    future_subscriptions jsonb DEFAULT '[]'::jsonb NOT NULL,
    packages_cleanup_package_file_worker_capacity smallint DEFAULT 2 NOT NULL,
    runner_token_expiration_interval integer,
    group_runner_token_expiration_interval integer,
    project_runner_token_expiration_interval integer,
    ecdsa_sk_key_restriction integer DEFAULT 0 NOT NULL,
    ed25519_sk_key_restriction integer DEFAULT 0 NOT NULL,
    users_get_by_id_limit integer DEFAULT 300 NOT NULL,
    users_get_by_id_limit_allowlist text[] DEFAULT '{}'::text[] NOT NULL,
    container_registry_expiration_policies_caching boolean DEFAULT true NOT NULL,
    search_rate_limit integer DEFAULT 300 NOT NULL,
    search_rate_limit_unauthenticated integer DEFAULT 100 NOT NULL,
    encrypted_database_grafana_api_key bytea,
    encrypted_database_grafana_api_key_iv bytea,
    database_grafana_api_url text,
    database_grafana_tag text,
    public_runner_releases_url text DEFAULT 'https://gitlab.com/api/v4/projects/gitlab-org%2Fgitlab-runner/releases'::text NOT NULL,
    password_uppercase_required boolean DEFAULT false NOT NULL,
    password_lowercase_required boolean DEFAULT false NOT NULL,
    password_number_required boolean DEFAULT false NOT NULL,
    password_symbol_required boolean DEFAULT false NOT NULL,
    encrypted_arkose_labs_public_api_key bytea,
    encrypted_arkose_labs_public_api_key_iv bytea,
    encrypted_arkose_labs_private_api_key bytea,
    encrypted_arkose_labs_private_api_key_iv bytea,
    delete_inactive_projects boolean DEFAULT false NOT NULL,
    inactive_projects_delete_after_months integer DEFAULT 2 NOT NULL,
    inactive_projects_min_size_mb integer DEFAULT 0 NOT NULL,
    inactive_projects_send_warning_email_after_months integer DEFAULT 1 NOT NULL,
    maven_package_requests_forwarding boolean DEFAULT true NOT NULL,
    arkose_labs_namespace text DEFAULT 'client'::text NOT NULL,
    max_export_size integer DEFAULT 0,
    encrypted_slack_app_signing_secret bytea,
    encrypted_slack_app_signing_secret_iv bytea,
    pipeline_limit_per_project_user_sha integer DEFAULT 0 NOT NULL,
    dingtalk_integration_enabled boolean DEFAULT false NOT NULL,
    encrypted_dingtalk_corpid bytea,
    encrypted_dingtalk_corpid_iv bytea,
    encrypted_dingtalk_app_key bytea,
    encrypted_dingtalk_app_key_iv bytea,
    encrypted_dingtalk_app_secret bytea,
    encrypted_dingtalk_app_secret_iv bytea,
    jira_connect_application_key text,
    globally_allowed_ips text DEFAULT ''::text NOT NULL,
    license_usage_data_exported boolean DEFAULT false NOT NULL,
    phone_verification_code_enabled boolean DEFAULT false NOT NULL,
    max_number_of_repository_downloads smallint DEFAULT 0 NOT NULL,
    max_number_of_repository_downloads_within_time_period integer DEFAULT 0 NOT NULL,
    feishu_integration_enabled boolean DEFAULT false NOT NULL,
    encrypted_feishu_app_key bytea,
    encrypted_feishu_app_key_iv bytea,
    encrypted_feishu_app_secret bytea,
    encrypted_feishu_app_secret_iv bytea,
    error_tracking_enabled boolean DEFAULT false NOT NULL,
    error_tracking_api_url text,
    git_rate_limit_users_allowlist text[] DEFAULT '{}'::text[] NOT NULL,
    error_tracking_access_token_encrypted text,
    invitation_flow_enforcement boolean DEFAULT false NOT NULL,
    package_registry_cleanup_policies_worker_capacity integer DEFAULT 2 NOT NULL,
    deactivate_dormant_users_period integer DEFAULT 90 NOT NULL,
    auto_ban_user_on_excessive_projects_download boolean DEFAULT false NOT NULL,
    max_pages_custom_domains_per_project integer DEFAULT 0 NOT NULL,
    cube_api_base_url text,
    encrypted_cube_api_key bytea,
    encrypted_cube_api_key_iv bytea,
    dashboard_limit_enabled boolean DEFAULT false NOT NULL,
    dashboard_limit integer DEFAULT 0 NOT NULL,
    can_create_group boolean DEFAULT true NOT NULL,
    lock_maven_package_requests_forwarding boolean DEFAULT false NOT NULL,
    lock_pypi_package_requests_forwarding boolean DEFAULT false NOT NULL,
    lock_npm_package_requests_forwarding boolean DEFAULT false NOT NULL,
    jira_connect_proxy_url text,
    password_expiration_enabled boolean DEFAULT false NOT NULL,
    password_expires_in_days integer DEFAULT 90 NOT NULL,
    password_expires_notice_before_days integer DEFAULT 7 NOT NULL,
    product_analytics_enabled boolean DEFAULT false NOT NULL,
    email_confirmation_setting smallint DEFAULT 0,
    disable_admin_oauth_scopes boolean DEFAULT false NOT NULL,
    default_preferred_language text DEFAULT 'en'::text NOT NULL,
    disable_download_button boolean DEFAULT false NOT NULL,
    encrypted_telesign_customer_xid bytea,
    encrypted_telesign_customer_xid_iv bytea,
    encrypted_telesign_api_key bytea,
    encrypted_telesign_api_key_iv bytea,
    disable_personal_access_tokens boolean DEFAULT false NOT NULL,
    max_terraform_state_size_bytes integer DEFAULT 0 NOT NULL,
    bulk_import_enabled boolean DEFAULT false NOT NULL,
    allow_runner_registration_token boolean DEFAULT true NOT NULL,
    user_defaults_to_private_profile boolean DEFAULT false NOT NULL,
    allow_possible_spam boolean DEFAULT false NOT NULL,
    default_syntax_highlighting_theme integer DEFAULT 1 NOT NULL,
    search_max_shard_size_gb integer DEFAULT 50 NOT NULL,
    search_max_docs_denominator integer DEFAULT 5000000 NOT NULL,
    search_min_docs_before_rollover integer DEFAULT 100000 NOT NULL,
    deactivation_email_additional_text text,
    jira_connect_public_key_storage_enabled boolean DEFAULT false NOT NULL,
    git_rate_limit_users_alertlist integer[] DEFAULT '{}'::integer[] NOT NULL,
    allow_deploy_tokens_and_keys_with_external_authn boolean DEFAULT false NOT NULL,
    security_policy_global_group_approvers_enabled boolean DEFAULT true NOT NULL,
    projects_api_rate_limit_unauthenticated integer DEFAULT 400 NOT NULL,
    deny_all_requests_except_allowed boolean DEFAULT false NOT NULL,
    product_analytics_data_collector_host text,
    lock_memberships_to_saml boolean DEFAULT false NOT NULL,
    gitlab_dedicated_instance boolean DEFAULT false NOT NULL,
    update_runner_versions_enabled boolean DEFAULT true NOT NULL,
    database_max_running_batched_background_migrations integer DEFAULT 2 NOT NULL,
    encrypted_product_analytics_configurator_connection_string bytea,
    encrypted_product_analytics_configurator_connection_string_iv bytea,
    silent_mode_enabled boolean DEFAULT false NOT NULL,
    package_metadata_purl_types smallint[] DEFAULT '{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}'::smallint[],
    ci_max_includes integer DEFAULT 150 NOT NULL,
    remember_me_enabled boolean DEFAULT true NOT NULL,
    diagramsnet_enabled boolean DEFAULT true NOT NULL,
    diagramsnet_url text DEFAULT 'https://embed.diagrams.net'::text,
    allow_account_deletion boolean DEFAULT true NOT NULL,
    wiki_asciidoc_allow_uri_includes boolean DEFAULT false NOT NULL,
    namespace_aggregation_schedule_lease_duration_in_seconds integer DEFAULT 300 NOT NULL,
    container_registry_data_repair_detail_worker_max_concurrency integer DEFAULT 2 NOT NULL,
    vertex_ai_host text,
    vertex_ai_project text,
    delete_unconfirmed_users boolean DEFAULT false NOT NULL,
    unconfirmed_users_delete_after_days integer DEFAULT 7 NOT NULL,
    default_branch_protection_defaults jsonb DEFAULT '{}'::jsonb NOT NULL,
    gitlab_shell_operation_limit integer DEFAULT 600,
    protected_paths_for_get_request text[] DEFAULT '{}'::text[] NOT NULL,
    namespace_storage_forks_cost_factor double precision DEFAULT 1.0 NOT NULL,
    package_registry_allow_anyone_to_pull_option boolean DEFAULT true NOT NULL,
    bulk_import_max_download_file_size bigint DEFAULT 5120 NOT NULL,
    max_import_remote_file_size bigint DEFAULT 10240 NOT NULL,
    max_decompressed_archive_size integer DEFAULT 25600 NOT NULL,
    sentry_clientside_traces_sample_rate double precision DEFAULT 0.0 NOT NULL,
    prometheus_alert_db_indicators_settings jsonb,
    ci_max_total_yaml_size_bytes integer DEFAULT 314572800 NOT NULL,
    decompress_archive_file_timeout integer DEFAULT 210 NOT NULL,
    search_rate_limit_allowlist text[] DEFAULT '{}'::text[] NOT NULL,
    snowplow_database_collector_hostname text,
    container_registry_db_enabled boolean DEFAULT false NOT NULL,
    failed_login_attempts_unlock_period_in_minutes integer,
    max_login_attempts integer,
    project_jobs_api_rate_limit integer DEFAULT 600 NOT NULL,
    math_rendering_limits_enabled boolean DEFAULT true NOT NULL,
    service_access_tokens_expiration_enforced boolean DEFAULT true NOT NULL,
    make_profile_private boolean DEFAULT true NOT NULL,
    enable_artifact_external_redirect_warning_page boolean DEFAULT true NOT NULL,
    allow_project_creation_for_guest_and_below boolean DEFAULT true NOT NULL,
    update_namespace_name_rate_limit smallint DEFAULT 120 NOT NULL,
    pre_receive_secret_detection_enabled boolean DEFAULT false NOT NULL,
    can_create_organization boolean DEFAULT true NOT NULL,
    bulk_import_concurrent_pipeline_batch_limit smallint DEFAULT 25 NOT NULL,
    web_ide_oauth_application_id bigint,
    instance_level_ai_beta_features_enabled boolean DEFAULT false NOT NULL,
    security_txt_content text,
    encrypted_arkose_labs_data_exchange_key bytea,
    encrypted_arkose_labs_data_exchange_key_iv bytea,
    rate_limits jsonb DEFAULT '{}'::jsonb NOT NULL,
    enable_member_promotion_management boolean DEFAULT false NOT NULL,
    lock_math_rendering_limits_enabled boolean DEFAULT false NOT NULL,
    security_approval_policies_limit integer DEFAULT 5 NOT NULL,
    encrypted_arkose_labs_client_xid bytea,
    encrypted_arkose_labs_client_xid_iv bytea,
    encrypted_arkose_labs_client_secret bytea,
    encrypted_arkose_labs_client_secret_iv bytea,
    duo_features_enabled boolean DEFAULT true NOT NULL,
    lock_duo_features_enabled boolean DEFAULT false NOT NULL,
    asciidoc_max_includes smallint DEFAULT 32 NOT NULL,
    clickhouse jsonb DEFAULT '{}'::jsonb NOT NULL,
    include_optional_metrics_in_service_ping boolean DEFAULT true NOT NULL,
    zoekt_settings jsonb DEFAULT '{}'::jsonb NOT NULL,
    service_ping_settings jsonb DEFAULT '{}'::jsonb NOT NULL,
    package_registry jsonb DEFAULT '{}'::jsonb NOT NULL,
    rate_limits_unauthenticated_git_http jsonb DEFAULT '{}'::jsonb NOT NULL,
    importers jsonb DEFAULT '{}'::jsonb NOT NULL,
    code_creation jsonb DEFAULT '{}'::jsonb NOT NULL,
    code_suggestions_api_rate_limit integer DEFAULT 60 NOT NULL,
    ai_action_api_rate_limit integer DEFAULT 160 NOT NULL,
    require_personal_access_token_expiry boolean DEFAULT true NOT NULL,
    duo_workflow jsonb DEFAULT '{}'::jsonb,
    max_artifacts_content_include_size integer DEFAULT 5242880 NOT NULL,
    max_number_of_vulnerabilities_per_project integer,
    cluster_agents jsonb DEFAULT '{}'::jsonb NOT NULL,
    observability_backend_ssl_verification_enabled boolean DEFAULT true NOT NULL,
    pages jsonb DEFAULT '{}'::jsonb NOT NULL,
    security_policies jsonb DEFAULT '{}'::jsonb NOT NULL,
    spp_repository_pipeline_access boolean DEFAULT false NOT NULL,
    lock_spp_repository_pipeline_access boolean DEFAULT false NOT NULL,
    required_instance_ci_template text,
    enforce_ci_inbound_job_token_scope_enabled boolean DEFAULT false NOT NULL,
    allow_top_level_group_owners_to_create_service_accounts boolean DEFAULT false NOT NULL,
    sign_in_restrictions jsonb DEFAULT '{}'::jsonb NOT NULL,
    transactional_emails jsonb DEFAULT '{}'::jsonb NOT NULL,
    identity_verification_settings jsonb DEFAULT '{}'::jsonb NOT NULL,
    integrations jsonb DEFAULT '{}'::jsonb NOT NULL,
    user_seat_management jsonb DEFAULT '{}'::jsonb NOT NULL,
    secret_detection_service_url text DEFAULT ''::text NOT NULL,
    encrypted_secret_detection_service_auth_token bytea,
    encrypted_secret_detection_service_auth_token_iv bytea,
    resource_usage_limits jsonb DEFAULT '{}'::jsonb NOT NULL,
    show_migrate_from_jenkins_banner boolean DEFAULT true NOT NULL,
    encrypted_ci_job_token_signing_key bytea,
    encrypted_ci_job_token_signing_key_iv bytea,
    elasticsearch jsonb DEFAULT '{}'::jsonb NOT NULL,
    oauth_provider jsonb DEFAULT '{}'::jsonb NOT NULL,
    observability_settings jsonb DEFAULT '{}'::jsonb NOT NULL,
    search jsonb DEFAULT '{}'::jsonb NOT NULL,
    anti_abuse_settings jsonb DEFAULT '{}'::jsonb NOT NULL,
    secret_push_protection_available boolean DEFAULT false,
    vscode_extension_marketplace jsonb DEFAULT '{}'::jsonb NOT NULL,
    token_prefixes jsonb DEFAULT '{}'::jsonb NOT NULL,
    -- Not in the structure.sql read for this seed: columns of earlier
    -- versions (GitLab has since moved them into jsonb columns) and jsonb
    -- columns the reference pack's settings were placed in.
    elasticsearch_search boolean DEFAULT false NOT NULL,
    web_ide_clientside_preview_enabled boolean DEFAULT false NOT NULL,
    elasticsearch_limit_indexing boolean DEFAULT false NOT NULL,
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
