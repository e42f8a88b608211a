-- A GitLab-like instance schema: the tables and columns the collector's
-- metric definitions (testdata/collector/metrics) count. Column names follow
-- GitLab's db/structure.sql; only what the metrics need is kept.
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
    import_type text,
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
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS clusters (
    id bigserial PRIMARY KEY,
    user_id bigint,
    cluster_type smallint NOT NULL DEFAULT 3,       -- 1 instance, 2 group, 3 project
    enabled boolean NOT NULL DEFAULT true,
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
CREATE INDEX IF NOT EXISTS index_issues_on_author_id ON issues (author_id);
CREATE INDEX IF NOT EXISTS index_merge_requests_on_author_id ON merge_requests (author_id);
CREATE INDEX IF NOT EXISTS index_notes_on_author_id ON notes (author_id);
CREATE INDEX IF NOT EXISTS index_ci_pipelines_on_user_id ON ci_pipelines (user_id);
CREATE INDEX IF NOT EXISTS index_ci_builds_on_user_id ON ci_builds (user_id);
CREATE INDEX IF NOT EXISTS index_ci_builds_on_commit_id ON ci_builds (commit_id);
CREATE INDEX IF NOT EXISTS index_deployments_on_user_id ON deployments (user_id);
CREATE INDEX IF NOT EXISTS index_projects_on_creator_id ON projects (creator_id);
