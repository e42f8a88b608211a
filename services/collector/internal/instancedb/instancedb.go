// Package instancedb holds the GitLab instance schema the collector's
// built-in instrumentation classes and demo definitions read (a subset of
// GitLab's db/structure.sql), and a deterministic seed generator of
// configurable size built on generate_series (no row-by-row inserts).
package instancedb

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed schema.sql
var schemaSQL string

// settingsJSON holds what GitLab's ApplicationSetting model
// (app/models/application_setting.rb and its EE part) says of settings
// beyond the columns: the jsonb_accessor declarations — for each jsonb
// column, the settings kept in it with their type and default (defaults
// GitLab takes from Ruby constants left out) — and the predicates it
// defines over a setting's value (seat_control_block_overages? is
// seat_control == SEAT_CONTROL_BLOCK_OVERAGES, 2).
//
//go:embed application_settings.json
var settingsJSON []byte

// JSONBSetting is a setting GitLab keeps in a jsonb column of
// application_settings: its type and the default GitLab answers while the
// key is absent.
type JSONBSetting struct {
	Type    string `json:"type"`
	Default any    `json:"default"`
}

// SettingPredicate is a boolean setting GitLab's model derives from
// another: whether that setting equals a value.
type SettingPredicate struct {
	Setting string `json:"setting"`
	Equals  int64  `json:"equals"`
}

// ModelSettings is what application_settings.json says: the
// jsonb_accessor settings by column and key, the predicates by name.
type ModelSettings struct {
	JSONB      map[string]map[string]JSONBSetting `json:"jsonb_accessor"`
	Predicates map[string]SettingPredicate        `json:"predicates"`
}

// Model reads the embedded application_settings.json.
func Model() ModelSettings {
	var m ModelSettings
	if err := json.Unmarshal(settingsJSON, &m); err != nil {
		panic(fmt.Sprintf("embedded application_settings.json: %v", err)) // part of the binary: a test fails first
	}
	return m
}

// Schema returns the instance schema DDL.
func Schema() string { return schemaSQL }

// Apply creates the instance tables (idempotent); a database seeded
// before a column existed gets it, with the schema's type and default,
// before the indexes are created.
func Apply(ctx context.Context, pool *pgxpool.Pool) error {
	var tables, indexes []string
	for _, line := range strings.SplitAfter(schemaSQL, "\n") {
		if strings.HasPrefix(line, "CREATE INDEX") {
			indexes = append(indexes, line)
		} else {
			tables = append(tables, line)
		}
	}
	if _, err := pool.Exec(ctx, strings.Join(tables, "")); err != nil {
		return fmt.Errorf("apply instance schema: %w", err)
	}
	for _, t := range schemaTables() {
		var adds []string
		for _, c := range t.columns {
			if !strings.Contains(c.definition, "PRIMARY KEY") { // the table was created with it
				adds = append(adds, "ADD COLUMN IF NOT EXISTS "+c.definition)
			}
		}
		if _, err := pool.Exec(ctx, "ALTER TABLE "+t.name+" "+strings.Join(adds, ", ")); err != nil {
			return fmt.Errorf("add missing columns of %s: %w", t.name, err)
		}
	}
	if _, err := pool.Exec(ctx, strings.Join(indexes, "")); err != nil {
		return fmt.Errorf("create instance indexes: %w", err)
	}
	return nil
}

// column is a column of a CREATE TABLE body: its name and its definition
// (name, type, default, constraints), comments dropped, and the values
// the column takes in GitLab when its comment lists them
// ("-- one of: ldapmain, github"): the values GitLab's queries select on.
type column struct {
	name, definition string
	oneOf            []string
}

// columnDefinitions reads the columns of a CREATE TABLE body, comments
// left out but a "one of:" list.
func columnDefinitions(body string) []column {
	var cols []column
	for _, line := range strings.Split(body, "\n") {
		c := columnRE.FindStringSubmatch(line)
		if c == nil || strings.EqualFold(c[1], "PRIMARY") {
			continue
		}
		def, comment, _ := strings.Cut(line, "--")
		col := column{name: c[1], definition: strings.TrimSuffix(strings.TrimSpace(def), ",")}
		if _, list, ok := strings.Cut(comment, "one of:"); ok {
			for _, v := range strings.Split(list, ",") {
				col.oneOf = append(col.oneOf, strings.TrimSpace(v))
			}
		}
		cols = append(cols, col)
	}
	return cols
}

// Size fixes the row count of every table from the largest one, ci_builds.
type Size struct {
	Builds int
}

// Counts are the row counts a Size produces.
type Counts struct {
	Users, Namespaces, Projects, Issues, MergeRequests, Notes, Milestones, Boards,
	Labels, Pipelines, Builds, Environments, Deployments, Releases, Snippets, Keys,
	Integrations, Clusters, Packages, Todos int
	ProjectFeatures, AutoDevops, ClusterProvidersGCP, CertManagers, Agents, AgentTokens,
	Suggestions, Events, PipelineSchedules, Runners, ApprovalRules, ApprovalRuleSources,
	ProjectApprovalRules, GroupStages, SecurityScans, HistoricalData, Measurements, BatchedMigrations int
	Lists, ProtectedBranches, Requirements, TerraformStates, PrometheusApps, IngressApps int
	HelmApps, JupyterApps, RunnerApps, ClusterProvidersAWS, LfsFileLocks, EpicIssues, Triggers,
	LdapGroupLinks, StatusPages, TestReports, ComplianceSettings int
	// Filled is the row count of every table the seed fills by its
	// columns' shape alone (fill).
	Filled int
}

// Counts derives the per-table sizes.
func (s Size) Counts() Counts {
	b := max(s.Builds, 100)
	c := Counts{Builds: b}
	c.Users = max(b/100, 10)
	c.Namespaces = c.Users + c.Users/10
	c.Projects = max(b/50, 5)
	c.Issues = b / 10
	c.MergeRequests = b / 20
	c.Notes = b / 4
	c.Milestones = max(c.Projects/2, 1)
	c.Boards = max(c.Projects/3, 1)
	c.Labels = c.Projects
	c.Pipelines = b / 5
	c.Environments = max(c.Projects/2, 1)
	c.Deployments = b / 25
	c.Releases = max(c.Projects/4, 1)
	c.Snippets = max(c.Users/2, 1)
	c.Keys = c.Users
	// One integration per project, then GitHub integrations on every
	// eighth, an instance-level GitHub integration and GitHub integrations
	// on every second group, every second of those inheriting the
	// instance-level one.
	groups := c.Namespaces - c.Users
	c.Integrations = c.Projects + max(c.Projects/8, 1) + 1 + max(groups/2, 1)
	c.Clusters = max(c.Projects/20, 1)
	c.Packages = max(c.Projects/2, 1)
	c.Todos = b / 20
	c.ProjectFeatures = c.Projects
	c.AutoDevops = max(c.Projects/3, 1)
	c.ClusterProvidersGCP = max(c.Clusters/2, 1)
	c.CertManagers = max(c.Clusters/2, 1)
	c.Agents = max(c.Projects/10, 1)
	c.AgentTokens = c.Agents
	c.Suggestions = max(c.Notes/20, 1)
	c.Events = b / 2
	c.PipelineSchedules = max(c.Projects/5, 1)
	c.Runners = max(c.Projects/10, 3)
	c.ApprovalRules = max(c.MergeRequests/2, 1)
	c.ApprovalRuleSources = max(c.ApprovalRules/3, 1)
	c.ProjectApprovalRules = max(c.Projects/2, 1)
	c.GroupStages = max(c.Namespaces/5, 1)
	c.SecurityScans = b / 10
	c.HistoricalData = HistoricalDays
	c.Measurements = 2 * MeasurementDays
	c.BatchedMigrations = 12
	c.Lists = 4 * c.Boards
	c.ProtectedBranches = c.Projects
	c.Requirements = max(c.Issues/50, 1)
	c.TerraformStates = max(c.Projects/4, 1)
	c.PrometheusApps = max(c.Clusters/2, 1)
	c.IngressApps = max(c.Clusters/3, 1)
	c.HelmApps = max(c.Clusters/2, 1)
	c.JupyterApps = max(c.Clusters/4, 1)
	c.RunnerApps = max(c.Clusters/2, 1)
	// The clusters with provider_type 2 (aws): every third from the second.
	c.ClusterProvidersAWS = max((c.Clusters+1)/3, 1)
	c.LfsFileLocks = max(c.Projects/2, 1)
	c.EpicIssues = max(c.Issues/25, 1)
	c.Triggers = max(c.Projects/3, 1)
	c.LdapGroupLinks = max(groups/3, 1)
	c.StatusPages = max(c.Projects/10, 1)
	c.TestReports = 2 * c.Requirements
	c.ComplianceSettings = max(c.Projects/6, 1)
	c.Filled = max(c.Projects/2, 5)
	return c
}

// HistoricalDays is how many daily historical_data rows (GitLab's record of
// the active user count, the base of historical_max_users) the seed writes,
// ending at the reference time; MeasurementDays is the same for the daily
// usage trends measurements (users and billable users).
const (
	HistoricalDays  = 400
	MeasurementDays = 90
)

// ts spreads rows over the 90 days before the reference time $1,
// deterministically from the row number i and a per-table prime.
func ts(prime int) string {
	return fmt.Sprintf("($1::timestamptz - ((i::bigint * %d) %% 129600) * interval '1 minute')", prime)
}

// Seed truncates the instance tables and fills them. ref is the reference
// "now" every timestamp is relative to (use the collector's clock).
func Seed(ctx context.Context, pool *pgxpool.Pool, size Size, ref time.Time) (Counts, error) {
	c := size.Counts()
	u := c.Users
	// The last project-level integration: the project integrations, then
	// GitHub on every eighth project.
	const gh = "($4 + GREATEST($4 / 8, 1))"
	stmts := []struct {
		table string
		n     int
		sql   string
	}{
		// group_view: GitLab's group overview choice, unset (details) for
		// a third, 1 details, 2 security dashboard.
		{"users", c.Users, `INSERT INTO users (id, username, email, state, user_type, admin, created_at, updated_at, last_activity_on, group_view)
SELECT i, 'user' || i, 'user' || i || '@example.com',
  CASE WHEN i % 10 = 0 THEN 'blocked' WHEN i % 23 = 0 THEN 'deactivated' ELSE 'active' END,
  CASE WHEN i = 2 THEN 1 WHEN i % 50 = 7 THEN 6 END, i = 1, ` + ts(7919) + `, ` + ts(104729) + `,
  (` + ts(6007) + `)::date, NULLIF(i % 3, 0)
FROM generate_series(1, $2) i`},
		// Every fourth group keeps its custom project templates in the
		// group after it.
		{"namespaces", c.Namespaces, `INSERT INTO namespaces (id, name, path, type, owner_id, visibility_level, created_at, custom_project_templates_group_id)
SELECT i, 'ns' || i, 'ns' || i, CASE WHEN i <= $3 THEN 'User' ELSE 'Group' END,
  CASE WHEN i <= $3 THEN i END, (i % 3) * 10, ` + ts(7907) + `,
  CASE WHEN i > $3 AND i < $2 AND (i - $3) % 4 = 1 THEN i + 1 END
FROM generate_series(1, $2) i`},
		{"projects", c.Projects, `INSERT INTO projects (id, name, namespace_id, creator_id, visibility_level, archived, service_desk_enabled, disable_overriding_approvers_per_merge_request, import_type,
  mirror, mirror_trigger_builds, created_at, last_activity_at)
SELECT i, 'project' || i, 1 + (i * 13) % ($3 + $3 / 10), 1 + (i * 17) % $3, (i % 3) * 10, i % 19 = 0, i % 7 = 0, i % 5 = 0,
  CASE WHEN i % 11 = 0 THEN 'github' WHEN i % 13 = 0 THEN 'gitlab_project' END, i % 4 = 0, i % 8 = 0, ` + ts(7901) + `, ` + ts(409) + `
FROM generate_series(1, $2) i`},
		{"milestones", c.Milestones, `INSERT INTO milestones (id, project_id, title, state, created_at)
SELECT i, 1 + (i * 3) % $4, 'm' || i, CASE WHEN i % 4 = 0 THEN 'closed' ELSE 'active' END, ` + ts(7883) + `
FROM generate_series(1, $2) i`},
		// Every 29th issue is a Service Desk issue: filed by the support bot
		// (user 2, user_type 1), confidential, in a project with Service Desk
		// on (every 7th).
		{"issues", c.Issues, `INSERT INTO issues (id, project_id, author_id, milestone_id, state_id, confidential, service_desk_reply_to, weight, issue_type, created_at, updated_at, closed_at)
SELECT i, CASE WHEN i % 29 = 0 THEN 7 * (1 + i % GREATEST($4 / 7, 1)) ELSE 1 + (i * 7) % $4 END,
  CASE WHEN i % 29 = 0 THEN 2 ELSE 1 + (i * 31) % $3 END, CASE WHEN i % 5 = 0 THEN 1 + i % $5 END,
  CASE WHEN i % 3 = 0 THEN 2 ELSE 1 END, i % 17 = 0 OR i % 29 = 0, CASE WHEN i % 29 = 0 THEN 'customer' || i || '@example.com' END,
  CASE WHEN i % 4 = 0 THEN i % 9 END, CASE WHEN i % 12 = 0 THEN 1 ELSE 0 END, ` + ts(7879) + `, ` + ts(613) + `, CASE WHEN i % 3 = 0 THEN ` + ts(613) + ` END
FROM generate_series(1, $2) i`},
		{"merge_requests", c.MergeRequests, `INSERT INTO merge_requests (id, target_project_id, author_id, state_id, draft, created_at, updated_at)
SELECT i, 1 + (i * 11) % $4, 1 + (i * 37) % $3, 1 + i % 4, i % 9 = 0, ` + ts(7877) + `, ` + ts(617) + `
FROM generate_series(1, $2) i`},
		{"notes", c.Notes, `INSERT INTO notes (id, project_id, author_id, noteable_type, system, created_at)
SELECT i, 1 + (i * 5) % $4, 1 + (i * 41) % $3,
  (ARRAY['Issue','MergeRequest','Commit','Snippet'])[1 + i % 4], i % 6 = 0, ` + ts(7873) + `
FROM generate_series(1, $2) i`},
		{"boards", c.Boards, `INSERT INTO boards (id, project_id, created_at) SELECT i, 1 + (i * 3) % $4, ` + ts(7867) + ` FROM generate_series(1, $2) i`},
		{"labels", c.Labels, `INSERT INTO labels (id, project_id, title, created_at) SELECT i, 1 + i % $4, 'label' || i, ` + ts(7853) + ` FROM generate_series(1, $2) i`},
		{"ci_pipelines", c.Pipelines, `INSERT INTO ci_pipelines (id, project_id, user_id, status, source, duration, config_source, created_at)
SELECT i, 1 + (i * 19) % $4, 1 + (i * 43) % $3,
  (ARRAY['success','success','failed','canceled','running'])[1 + i % 5], (ARRAY[1,2,4,5])[1 + i % 4], 30 + i % 600, (ARRAY[1,1,2,4])[1 + i % 4], ` + ts(7841) + `
FROM generate_series(1, $2) i`},
		{"ci_builds", c.Builds, `INSERT INTO ci_builds (id, commit_id, project_id, user_id, name, status, type, created_at)
SELECT i, 1 + (i - 1) / 5, 1 + (i * 23) % $4, 1 + (i * 47) % $3,
  (ARRAY['build','test','lint','deploy','sast','build','test','secret_detection','dependency_scanning','license_management','container_scanning','dast'])[1 + i % 12],
  (ARRAY['success','success','failed','canceled'])[1 + i % 4],
  CASE WHEN i % 20 = 0 THEN 'Ci::Bridge' ELSE 'Ci::Build' END, ` + ts(7829) + `
FROM generate_series(1, $2) i`},
		{"environments", c.Environments, `INSERT INTO environments (id, project_id, name, tier, state, created_at)
SELECT i, 1 + (i * 2) % $4, (ARRAY['production','staging','review/x','development'])[1 + i % 4], i % 5,
  CASE WHEN i % 6 = 0 THEN 'stopped' ELSE 'available' END, ` + ts(7823) + `
FROM generate_series(1, $2) i`},
		{"deployments", c.Deployments, `INSERT INTO deployments (id, project_id, environment_id, user_id, status, created_at, finished_at)
SELECT i, 1 + (i * 2) % $4, 1 + i % $6, 1 + (i * 53) % $3, 1 + i % 4, ` + ts(7817) + `, ` + ts(7817) + ` + interval '5 minutes'
FROM generate_series(1, $2) i`},
		{"releases", c.Releases, `INSERT INTO releases (id, project_id, author_id, created_at) SELECT i, 1 + i % $4, 1 + (i * 59) % $3, ` + ts(7793) + ` FROM generate_series(1, $2) i`},
		{"snippets", c.Snippets, `INSERT INTO snippets (id, author_id, project_id, type, created_at)
SELECT i, 1 + (i * 61) % $3, CASE WHEN i % 2 = 0 THEN 1 + i % $4 END, CASE WHEN i % 2 = 0 THEN 'ProjectSnippet' ELSE 'PersonalSnippet' END, ` + ts(7789) + `
FROM generate_series(1, $2) i`},
		{"keys", c.Keys, `INSERT INTO keys (id, user_id, type, created_at) SELECT i, 1 + (i * 67) % $3, CASE WHEN i % 4 = 0 THEN 'DeployKey' ELSE 'Key' END, ` + ts(7759) + ` FROM generate_series(1, $2) i`},
		// Project integrations (ids up to $4), GitHub on every eighth project
		// (up to $4 + GREATEST($4 / 8, 1)), the instance-level GitHub
		// integration right after, then GitHub on every second group
		// (namespaces after the $3 users), every second inheriting the
		// instance-level one.
		{"integrations", c.Integrations, `INSERT INTO integrations (id, project_id, group_id, type_new, active, pipeline_events, instance, inherit_from_id, created_at)
SELECT i, CASE WHEN i <= $4 THEN i WHEN i <= ` + gh + ` THEN 8 * (i - $4) END, CASE WHEN i > ` + gh + ` + 1 THEN $3 + 2 * (i - ` + gh + ` - 1) - 1 END,
  CASE WHEN i <= $4 THEN (ARRAY['Integrations::Prometheus','Integrations::Slack','Integrations::Jira','Integrations::Mattermost'])[1 + i % 4]
    ELSE 'Integrations::Github' END,
  CASE WHEN i <= ` + gh + ` THEN i % 3 <> 0 WHEN i = ` + gh + ` + 1 THEN true ELSE (i - ` + gh + ` - 1) % 4 <> 0 END, i % 2 = 0, i = ` + gh + ` + 1,
  CASE WHEN i > ` + gh + ` + 1 AND (i - ` + gh + ` - 1) % 2 = 0 THEN ` + gh + ` + 1 END, ` + ts(7757) + `
FROM generate_series(1, $2) i`},
		{"clusters", c.Clusters, `INSERT INTO clusters (id, user_id, cluster_type, provider_type, enabled, management_project_id, created_at)
SELECT i, 1 + i % $3, 1 + i % 3, i % 3, i % 4 <> 0, CASE WHEN i % 3 = 0 THEN 1 + (i * 7) % $4 END, ` + ts(7753) + `
FROM generate_series(1, $2) i`},
		{"packages_packages", c.Packages, `INSERT INTO packages_packages (id, project_id, package_type, created_at) SELECT i, 1 + i % $4, 1 + i % 8, ` + ts(7741) + ` FROM generate_series(1, $2) i`},
		{"todos", c.Todos, `INSERT INTO todos (id, user_id, author_id, state, created_at) SELECT i, 1 + (i * 71) % $3, 1 + (i * 73) % $3, CASE WHEN i % 3 = 0 THEN 'done' ELSE 'pending' END, ` + ts(7727) + ` FROM generate_series(1, $2) i`},
		{"project_features", c.ProjectFeatures, `INSERT INTO project_features (id, project_id, repository_access_level, builds_access_level, created_at, updated_at)
SELECT i, i, (ARRAY[20,20,10,0])[1 + i % 4], (ARRAY[20,10,20,0,20])[1 + i % 5], ` + ts(7901) + `, ` + ts(7901) + `
FROM generate_series(1, $2) i`},
		{"project_auto_devops", c.AutoDevops, `INSERT INTO project_auto_devops (id, project_id, enabled, created_at, updated_at)
SELECT i, 1 + (i * 3) % $4, i % 4 <> 0, ` + ts(7723) + `, ` + ts(7723) + `
FROM generate_series(1, $2) i`},
		{"cluster_providers_gcp", c.ClusterProvidersGCP, `INSERT INTO cluster_providers_gcp (id, cluster_id, status, created_at)
SELECT i, 1 + (i * 2 - 1) % $7, CASE WHEN i % 4 = 0 THEN 5 ELSE 3 END, ` + ts(7753) + `
FROM generate_series(1, $2) i`},
		{"clusters_applications_cert_managers", c.CertManagers, `INSERT INTO clusters_applications_cert_managers (id, cluster_id, status, created_at)
SELECT i, 1 + (i * 2) % $7, (ARRAY[3,5,1])[1 + i % 3], ` + ts(7703) + `
FROM generate_series(1, $2) i`},
		// Four lists per board: backlog, label, assignee (a user), milestone,
		// closed, label again, in turn.
		{"lists", c.Lists, `INSERT INTO lists (id, board_id, label_id, list_type, "position", created_at, updated_at, user_id, milestone_id)
SELECT i, 1 + (i - 1) / 4, CASE WHEN i % 6 IN (1, 5) THEN 1 + i % $4 END, (ARRAY[0,1,3,4,2,1])[1 + i % 6], i % 4,
  ` + ts(7639) + `, ` + ts(7639) + `, CASE WHEN i % 6 = 2 THEN 1 + (i * 89) % $3 END, CASE WHEN i % 6 = 3 THEN 1 + i % $5 END
FROM generate_series(1, $2) i`},
		{"protected_branches", c.ProtectedBranches, `INSERT INTO protected_branches (id, project_id, name, created_at, updated_at, code_owner_approval_required)
SELECT i, i, 'main', ` + ts(7621) + `, ` + ts(7621) + `, i % 3 = 0
FROM generate_series(1, $2) i`},
		{"requirements", c.Requirements, `INSERT INTO requirements (id, project_id, iid, issue_id)
SELECT i, 1 + (i * 3) % $4, i, 50 * i
FROM generate_series(1, $2) i`},
		{"terraform_states", c.TerraformStates, `INSERT INTO terraform_states (id, project_id, created_at, updated_at, uuid, name, versioning_enabled)
SELECT i, 1 + (i * 5) % $4, ` + ts(7607) + `, ` + ts(7607) + `, substr(md5(i::text), 1, 32), 'state' || i, i % 6 <> 0
FROM generate_series(1, $2) i`},
		{"clusters_applications_prometheus", c.PrometheusApps, `INSERT INTO clusters_applications_prometheus (id, cluster_id, status, version, created_at, updated_at)
SELECT i, 1 + (i * 2 - 1) % $7, (ARRAY[3,5,1,3])[1 + i % 4], '10.4.1', ` + ts(7603) + `, ` + ts(7603) + `
FROM generate_series(1, $2) i`},
		{"clusters_applications_ingress", c.IngressApps, `INSERT INTO clusters_applications_ingress (id, cluster_id, created_at, updated_at, status, ingress_type, version)
SELECT i, 1 + (i * 3) % $7, ` + ts(7591) + `, ` + ts(7591) + `, (ARRAY[3,5,1])[1 + i % 3], 0, '1.40.2'
FROM generate_series(1, $2) i`},
		{"clusters_applications_helm", c.HelmApps, `INSERT INTO clusters_applications_helm (id, cluster_id, created_at, updated_at, status, version)
SELECT i, 1 + (i * 2) % $7, ` + ts(7589) + `, ` + ts(7589) + `, (ARRAY[3,5,3,1])[1 + i % 4], '2.16.9'
FROM generate_series(1, $2) i`},
		{"clusters_applications_jupyter", c.JupyterApps, `INSERT INTO clusters_applications_jupyter (id, cluster_id, status, version, hostname, created_at, updated_at)
SELECT i, 1 + (i * 4 - 1) % $7, (ARRAY[3,5,1])[1 + i % 3], '0.9.0', 'jupyter' || i || '.apps.example.com', ` + ts(7583) + `, ` + ts(7583) + `
FROM generate_series(1, $2) i`},
		{"clusters_applications_runners", c.RunnerApps, `INSERT INTO clusters_applications_runners (id, cluster_id, runner_id, status, created_at, updated_at, version, privileged)
SELECT i, 1 + (i * 2 - 1) % $7, 1 + i % 3, (ARRAY[3,5,1,3])[1 + i % 4], ` + ts(7577) + `, ` + ts(7577) + `, '0.23.0', i % 3 <> 0
FROM generate_series(1, $2) i`},
		{"cluster_agents", c.Agents, `INSERT INTO cluster_agents (id, project_id, created_by_user_id, name, created_at)
SELECT i, 1 + (i * 7) % $4, 1 + i % $3, 'agent' || i, ` + ts(7699) + `
FROM generate_series(1, $2) i`},
		{"cluster_agent_tokens", c.AgentTokens, `INSERT INTO cluster_agent_tokens (id, agent_id, status, created_at)
SELECT i, 1 + (i * 2) % $10, i % 5 / 4, ` + ts(7691) + `
FROM generate_series(1, $2) i`},
		{"suggestions", c.Suggestions, `INSERT INTO suggestions (id, note_id, relative_order, applied)
SELECT i, i * 20, 0, i % 3 = 0
FROM generate_series(1, $2) i`},
		{"events", c.Events, `INSERT INTO events (id, project_id, author_id, action, target_type, created_at)
SELECT i, 1 + (i * 29) % $4, 1 + (i * 79) % $3, (ARRAY[1,5,6,7])[1 + i % 4],
  (ARRAY['Issue','MergeRequest',NULL,'Note'])[1 + i % 4], ` + ts(7717) + `
FROM generate_series(1, $2) i`},
		{"ci_pipeline_schedules", c.PipelineSchedules, `INSERT INTO ci_pipeline_schedules (id, project_id, owner_id, active, created_at)
SELECT i, 1 + (i * 5) % $4, 1 + (i * 83) % $3, i % 6 <> 0, ` + ts(7687) + `
FROM generate_series(1, $2) i`},
		{"ci_runners", c.Runners, `INSERT INTO ci_runners (id, runner_type, active, created_at, contacted_at)
SELECT i, 1 + i % 3, i % 5 <> 0, ` + ts(7681) + `, ` + ts(421) + `
FROM generate_series(1, $2) i`},
		{"approval_merge_request_rules", c.ApprovalRules, `INSERT INTO approval_merge_request_rules (id, merge_request_id, name, rule_type, approvals_required, section, modified_from_project_rule, created_at, updated_at)
SELECT i, 1 + (i * 2) % $8, 'rule' || i, 1 + i % 4, i % 3, CASE WHEN i % 4 = 1 THEN (ARRAY['codeowners','backend'])[1 + i % 2] END, i % 5 = 0, ` + ts(7673) + `, ` + ts(7673) + `
FROM generate_series(1, $2) i`},
		{"approval_project_rules", c.ProjectApprovalRules, `INSERT INTO approval_project_rules (id, project_id, name, approvals_required, rule_type, created_at, updated_at)
SELECT i, 1 + (i * 2) % $4, 'project rule ' || i, i % 3, i % 4, ` + ts(7649) + `, ` + ts(7649) + `
FROM generate_series(1, $2) i`},
		{"analytics_cycle_analytics_group_stages", c.GroupStages, `INSERT INTO analytics_cycle_analytics_group_stages (id, group_id, name, start_event_identifier, end_event_identifier, relative_position, custom, created_at, updated_at)
SELECT i, 1 + i % 7, 'stage ' || i, 1 + i % 5, 6 + i % 5, i, i % 3 = 0, ` + ts(7643) + `, ` + ts(7643) + `
FROM generate_series(1, $2) i`},
		{"approval_merge_request_rule_sources", c.ApprovalRuleSources, `INSERT INTO approval_merge_request_rule_sources (id, approval_merge_request_rule_id, approval_project_rule_id)
SELECT i, 1 + (i * 3 - 1) % $11, i
FROM generate_series(1, $2) i`},
		{"security_scans", c.SecurityScans, `INSERT INTO security_scans (id, build_id, pipeline_id, project_id, scan_type, status, created_at, updated_at)
SELECT i, i * 10, 1 + (i - 1) / 4, 1 + (i * 23) % $4, 1 + i % 7, 1, ` + ts(7669) + `, ` + ts(7669) + `
FROM generate_series(1, $2) i`},
		{"historical_data", c.HistoricalData, `INSERT INTO historical_data (id, active_user_count, recorded_at, created_at, updated_at)
SELECT i, $3 * 6 / 10 + ($2 - i) * $3 / 1000 + (i * 7919) % 13, $1::timestamptz - (i - 1) * interval '1 day',
  $1::timestamptz - (i - 1) * interval '1 day', $1::timestamptz - (i - 1) * interval '1 day'
FROM generate_series(1, $2) i`},
		{"analytics_usage_trends_measurements", c.Measurements, `INSERT INTO analytics_usage_trends_measurements (id, count, recorded_at, identifier)
SELECT i, CASE WHEN i % 2 = 0 THEN $3 * 8 / 10 ELSE $3 END - ((i - 1) / 2) % 17,
  date_trunc('day', $1::timestamptz) - ((i - 1) / 2) * interval '1 day', CASE WHEN i % 2 = 0 THEN 11 ELSE 2 END
FROM generate_series(1, $2) i`},
		{"batched_background_migrations", c.BatchedMigrations, `INSERT INTO batched_background_migrations (id, created_at, updated_at, max_value, batch_size, sub_batch_size, "interval",
  status, job_class_name, table_name, column_name, started_at, finished_at)
SELECT i, $1::timestamptz - (i * 3) * interval '1 day', $1::timestamptz - i * interval '1 day', 1000 * i, 1000, 100, 120,
  CASE WHEN i % 4 = 0 THEN 1 ELSE 3 END, 'Backfill' || (ARRAY['Issues','Notes','CiBuilds','Projects'])[1 + i % 4] || 'Column' || i,
  (ARRAY['issues','notes','ci_builds','projects'])[1 + i % 4], 'id',
  $1::timestamptz - (i * 31) % 20 * interval '1 day' - interval '6 hours',
  CASE WHEN i % 4 <> 0 THEN $1::timestamptz - (i * 31) % 20 * interval '1 day' - interval '6 hours' + i * 37 * interval '1 minute' END
FROM generate_series(1, $2) i`},
		{"cluster_providers_aws", c.ClusterProvidersAWS, `INSERT INTO cluster_providers_aws (id, cluster_id, num_nodes, status, created_at, updated_at, key_name, role_arn,
  region, vpc_id, subnet_ids, security_group_id, instance_type)
SELECT i, 3 * i - 1, 3, CASE WHEN i % 4 = 0 THEN 4 ELSE 3 END, ` + ts(7753) + `, ` + ts(7753) + `, 'eks-key-' || i,
  'arn:aws:iam::123456789012:role/gitlab-eks-' || i, 'us-east-1', 'vpc-' || substr(md5('vpc' || i), 1, 8),
  ARRAY['subnet-' || substr(md5('a' || i), 1, 8), 'subnet-' || substr(md5('b' || i), 1, 8)], 'sg-' || substr(md5('sg' || i), 1, 8), 'm5.large'
FROM generate_series(1, $2) i`},
		{"lfs_file_locks", c.LfsFileLocks, `INSERT INTO lfs_file_locks (id, project_id, user_id, created_at, path)
SELECT i, 1 + (i * 7) % $4, 1 + (i * 97) % GREATEST($3 / 5, 1), ` + ts(7573) + `, 'assets/design' || i || '.psd'
FROM generate_series(1, $2) i`},
		// Three issues per epic, every 25th issue; epics belong to groups.
		{"epic_issues", c.EpicIssues, `INSERT INTO epic_issues (id, epic_id, issue_id, relative_position, namespace_id)
SELECT i, 1 + (i - 1) / 3, 25 * i, 1000 * ((i - 1) % 3), $3 + 1 + ((i - 1) / 3) % ($3 / 10)
FROM generate_series(1, $2) i`},
		{"ci_triggers", c.Triggers, `INSERT INTO ci_triggers (id, token, created_at, updated_at, project_id, owner_id, description)
SELECT i, 'glptt-' || substr(md5('trigger' || i), 1, 20), ` + ts(7561) + `, ` + ts(7561) + `, 1 + (i * 3) % $4, 1 + (i * 101) % $3, 'trigger ' || i
FROM generate_series(1, $2) i`},
		{"ldap_group_links", c.LdapGroupLinks, `INSERT INTO ldap_group_links (id, cn, group_access, group_id, created_at, updated_at, provider)
SELECT i, 'cn=team' || i || ',ou=groups,dc=example,dc=com', (ARRAY[30,20,40])[1 + i % 3], $3 + 1 + (i * 3) % ($3 / 10),
  ` + ts(7559) + `, ` + ts(7559) + `, 'ldapmain'
FROM generate_series(1, $2) i`},
		{"status_page_settings", c.StatusPages, `INSERT INTO status_page_settings (project_id, created_at, updated_at, enabled, aws_s3_bucket_name, aws_region, aws_access_key, status_page_url)
SELECT 10 * i, ` + ts(7549) + `, ` + ts(7549) + `, i % 3 <> 0, 'status-page-' || i, 'us-east-1', 'AKIA' || upper(substr(md5('key' || i), 1, 16)),
  'https://status' || i || '.example.com'
FROM generate_series(1, $2) i`},
		// Two reports per requirement (requirements.issue_id is 50 times its
		// id): one from a CI job, one by hand.
		{"requirements_management_test_reports", c.TestReports, `INSERT INTO requirements_management_test_reports (id, created_at, author_id, state, build_id, issue_id, project_id)
SELECT i, ` + ts(7547) + `, CASE WHEN i % 2 = 0 THEN 1 + (i * 103) % $3 END, CASE WHEN i % 5 = 0 THEN 2 ELSE 1 END,
  CASE WHEN i % 2 = 1 THEN 10 * i END, 50 * ((i + 1) / 2), 1 + (((i + 1) / 2) * 3) % $4
FROM generate_series(1, $2) i`},
		{"project_compliance_framework_settings", c.ComplianceSettings, `INSERT INTO project_compliance_framework_settings (id, project_id, framework_id, created_at)
SELECT i, 6 * i, 1 + i % 3, ` + ts(7541) + `
FROM generate_series(1, $2) i`},
		{"application_settings", 1, `INSERT INTO application_settings (id, created_at, updated_at, uuid, signup_enabled, gravatar_enabled,
  auto_devops_enabled, usage_ping_enabled, usage_ping_features_enabled, include_optional_metrics_in_service_ping, snowplow_enabled, elasticsearch_search,
  deactivate_dormant_users, deactivate_dormant_users_period, new_user_signups_cap, max_personal_access_token_lifetime,
  gitlab_dedicated_instance, allow_runner_registration_token, runner_token_expiration_interval, license_trial_ends_on,
  duo_features_enabled, lock_duo_features_enabled, package_metadata_purl_types,
  service_ping_settings, clickhouse, ci_cd_settings, duo_chat, password_number_required, max_ssh_key_lifetime, user_seat_management)
SELECT i, $1::timestamptz - interval '400 days', $1::timestamptz - interval '3 days', 'a4d3a6e0-2c1e-4f6b-9d51-5e0f7c1b2a90', true, true,
  true, true, true, true, false, false,
  true, 180, NULL, 365,
  false, false, 604800, NULL,
  true, false, '{1,2,5,8}'::smallint[],
  '{"gitlab_product_usage_data_enabled": true}'::jsonb, '{"use_clickhouse_for_analytics": false}'::jsonb,
  '{"ci_cd_catalog_projects_allowlist": ["platform/components", "security/templates"]}'::jsonb,
  '{"mcp_server_enabled": false}'::jsonb, true, 180, '{"seat_control": 2}'::jsonb
FROM generate_series(1, $2) i`},
	}
	written := map[string]bool{}
	for _, s := range stmts {
		written[s.table] = true
	}
	written["geo_nodes"] = true // the demo instance is no Geo site (geo_enabled false)
	schema := schemaTables()
	for _, t := range schema {
		if !written[t.name] {
			stmts = append(stmts, struct {
				table string
				n     int
				sql   string
			}{t.name, c.Filled, fill(t.name, t.columns, c)})
		}
	}
	keys := map[string]string{}
	for _, t := range schema {
		keys[t.name] = primaryKey(t.columns)
	}
	tables := ""
	for i, s := range stmts {
		if i > 0 {
			tables += ", "
		}
		tables += s.table
	}
	if _, err := pool.Exec(ctx, "TRUNCATE "+tables); err != nil {
		return c, fmt.Errorf("truncate instance tables: %w", err)
	}
	for _, s := range stmts {
		// Every statement gets the same parameters; each uses what it needs.
		sql := s.sql + ` AND $1::timestamptz IS NOT NULL AND $3::int > 0 AND $4::int > 0 AND $5::int > 0 AND $6::int > 0 AND $7::int > 0 AND $8::int > 0 AND $9::int > 0 AND $10::int > 0 AND $11::int > 0`
		sql = replaceFrom(sql)
		if _, err := pool.Exec(ctx, sql, ref.UTC(), s.n, u, c.Projects, c.Milestones, c.Environments,
			c.Clusters, c.MergeRequests, c.Pipelines, c.Agents, c.ApprovalRules); err != nil {
			return c, fmt.Errorf("seed %s: %w", s.table, err)
		}
		key := cmp.Or(keys[s.table], "id")
		if _, err := pool.Exec(ctx, fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%[1]s', '%[2]s'), GREATEST((SELECT max(%[2]s) FROM %[1]s), 1))", s.table, key)); err != nil {
			return c, fmt.Errorf("reset %s id sequence: %w", s.table, err)
		}
	}
	if _, err := pool.Exec(ctx, "ANALYZE "+tables); err != nil {
		return c, fmt.Errorf("analyze instance tables: %w", err)
	}
	return c, nil
}

// primaryKey is a table's key column: the column the schema declares
// PRIMARY KEY (id, or project_id for status_page_settings and
// container_expiration_policies, as in GitLab).
func primaryKey(cols []column) string {
	for _, c := range cols {
		if strings.Contains(c.definition, "PRIMARY KEY") {
			return c.name
		}
	}
	return "id"
}

// fill is the seed statement of a table without a written one: a value
// for every column from its type and name alone, deterministic in the row
// number i — ids and a primary key in turn, parent_id (the same table)
// making trees three deep, a column's listed values in
// turn (columns listing as many values stay paired: members' type and
// source_type), references (<owner>_id) spread over the table they name,
// booleans and small enums in turn, times over the 90 days before the
// reference time, text the column's name and the row number.
func fill(table string, cols []column, c Counts) string {
	refs := map[string]int{"project": c.Projects, "user": c.Users, "author": c.Users, "creator": c.Users, "owner": c.Users,
		"assignee": c.Users, "issue": c.Issues, "merge_request": c.MergeRequests, "namespace": c.Namespaces,
		"group": c.Namespaces - c.Users, "cluster": c.Clusters, "pipeline": c.Pipelines, "build": c.Builds,
		"label": c.Labels, "milestone": c.Milestones, "environment": c.Environments, "note": c.Notes,
		"integration": c.Integrations, "approval_project_rule": c.ProjectApprovalRules}
	prime := 7537
	for _, r := range table {
		prime = (prime*31 + int(r)) % 7000
	}
	prime += 500 // a table's own spread of times
	names := make([]string, len(cols))
	values := make([]string, len(cols))
	for k, col := range cols {
		names[k] = col.name
		_, typ, _ := strings.Cut(col.definition, " ")
		switch owner, isRef := strings.CutSuffix(col.name, "_id"); {
		case col.name == "id", strings.Contains(col.definition, "PRIMARY KEY"):
			values[k] = "i"
		case col.name == "parent_id": // a row of the same table: trees three deep
			values[k] = "CASE WHEN i % 3 <> 1 THEN i - 1 END"
		case len(col.oneOf) > 0:
			values[k] = fmt.Sprintf("(ARRAY[%s])[1 + i %% %d]", literals(col.oneOf), len(col.oneOf))
		case strings.HasPrefix(typ, "boolean"):
			values[k] = fmt.Sprintf("(i + %d) %% 3 <> 0", k)
		case strings.HasPrefix(typ, "timestamp"): // with or without time zone
			values[k] = ts(prime + k)
		case strings.HasPrefix(typ, "inet"):
			values[k] = "('10.' || i / 65536 % 256 || '.' || i / 256 % 256 || '.' || i % 256)::inet"
		case strings.HasPrefix(typ, "date"):
			values[k] = "(" + ts(prime+k) + ")::date"
		case isRef && (strings.HasPrefix(typ, "bigint") || strings.HasPrefix(typ, "integer")):
			n := c.Filled
			for _, name := range slices.Sorted(maps.Keys(refs)) { // in order: the seed stays deterministic
				if owner == name || strings.HasSuffix(owner, "_"+name) {
					n = refs[name]
				}
			}
			if owner == "group" || strings.HasSuffix(owner, "_group") {
				values[k] = fmt.Sprintf("%d + 1 + (i * %d) %% %d", c.Users, 2*k+3, max(n, 1))
			} else {
				values[k] = fmt.Sprintf("1 + (i * %d) %% %d", 2*k+3, max(n, 1))
			}
		case strings.HasPrefix(typ, "smallint"), strings.HasPrefix(typ, "integer"):
			values[k] = fmt.Sprintf("(i + %d) %% 4", k)
		case strings.HasPrefix(typ, "bigint"):
			values[k] = "10 * i"
		default: // text, character varying
			values[k] = fmt.Sprintf("'%s-' || i", col.name)
		}
	}
	return "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ")\nSELECT " + strings.Join(values, ", ") + "\nFROM generate_series(1, $2) i"
}

// literals is a SQL list of values: numbers as they are, the rest quoted.
func literals(vs []string) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			out[i] = v
		} else {
			out[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		}
	}
	return strings.Join(out, ", ")
}

// replaceFrom turns the trailing "FROM generate_series(1, $2) i AND ..." into
// "... WHERE ..." so every statement binds all eleven parameters (PostgreSQL
// rejects unused parameter numbers whose type it cannot infer).
func replaceFrom(sql string) string {
	const tail = "FROM generate_series(1, $2) i AND "
	for i := len(sql) - len(tail); i >= 0; i-- {
		if sql[i:i+len(tail)] == tail {
			return sql[:i] + "FROM generate_series(1, $2) i WHERE " + sql[i+len(tail):]
		}
	}
	return sql
}

// Table is a table of the expected schema and its columns.
type Table struct {
	Name    string
	Columns []string
}

// Index is an index of the expected schema.
type Index struct {
	Name, Table string
}

// Structure is the schema the collector expects an instance to have.
type Structure struct {
	Tables  []Table
	Indexes []Index
}

var (
	createTableRE = regexp.MustCompile(`(?s)CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);`)
	columnRE      = regexp.MustCompile(`^\s+"?(\w+)"? `)
	createIndexRE = regexp.MustCompile(`CREATE INDEX IF NOT EXISTS (\w+) ON (\w+)`)
)

// ColumnDefinitions are the columns of a table of the schema, each with
// its type, default and constraints (the definition without the name).
func ColumnDefinitions(table string) map[string]string {
	for _, t := range schemaTables() {
		if t.name != table {
			continue
		}
		defs := map[string]string{}
		for _, c := range t.columns {
			_, rest, _ := strings.Cut(c.definition, " ")
			defs[c.name] = rest
		}
		return defs
	}
	return nil
}

// schemaTable is a CREATE TABLE of the schema: its name and columns.
type schemaTable struct {
	name    string
	columns []column
}

// schemaTables parses the embedded schema's tables, in their order.
func schemaTables() []schemaTable {
	var out []schemaTable
	for _, m := range createTableRE.FindAllStringSubmatch(schemaSQL, -1) {
		out = append(out, schemaTable{m[1], columnDefinitions(m[2])})
	}
	return out
}

// Expected parses the embedded schema into its tables, columns and named
// indexes: what the schema and index inconsistency metrics compare the
// live database with.
func Expected() Structure {
	var s Structure
	for _, st := range schemaTables() {
		t := Table{Name: st.name}
		for _, c := range st.columns {
			t.Columns = append(t.Columns, c.name)
		}
		s.Tables = append(s.Tables, t)
	}
	for _, m := range createIndexRE.FindAllStringSubmatch(schemaSQL, -1) {
		s.Indexes = append(s.Indexes, Index{Name: m[1], Table: m[2]})
	}
	return s
}
