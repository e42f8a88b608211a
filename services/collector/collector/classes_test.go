package collector

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/services/collector/internal/eventtrack"
	"github.com/serviceping/serviceping/services/collector/internal/payload"
)

// definition is a metric definition in GitLab's format for the tests:
// the given keys over a valid modern skeleton.
func definition(keyPath, timeFrame, source, category, extra string) string {
	return fmt.Sprintf(`---
key_path: %s
description: test
product_group: analytics_instrumentation
product_categories: [service_ping]
value_type: number
status: active
milestone: "17.0"
introduced_by_url: https://gitlab.com/gitlab-org/gitlab/-/merge_requests/1
time_frame: %s
data_source: %s
data_category: %s
tiers: [free]
%s`, keyPath, timeFrame, source, category, extra)
}

// writeDefs writes each definition to dir/<name>.yml and the aggregates
// (GitLab's aggregates list, YAML) to dir/aggregates/test.yml.
func writeDefs(t *testing.T, dir string, defs map[string]string, aggregates string) {
	t.Helper()
	for name, d := range defs {
		must(t, os.WriteFile(filepath.Join(dir, name+".yml"), []byte(d), 0o644))
	}
	must(t, os.MkdirAll(filepath.Join(dir, "aggregates"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "aggregates", "test.yml"), []byte(aggregates), 0o644))
}

// window renders GitLab's database window for a time frame at ref as SQL.
func window(column, timeFrame string) string {
	days := map[string]int{"28d": 30, "7d": 9}[timeFrame]
	return fmt.Sprintf("%s BETWEEN '%s' AND '%s'", column,
		ref.AddDate(0, 0, -days).Format(time.RFC3339), ref.AddDate(0, 0, -2).Format(time.RFC3339))
}

// TestClassesExactValues computes a sample of every family of GitLab's
// instrumentation classes on a seeded GitLab-schema instance and compares
// each with SQL written by hand from GitLab's class: counts and distinct
// counts with options, 28d and 7d windows, a batch size that splits the
// table into hundreds of batches, estimates, legacy key paths,
// application settings (column and jsonb), gitlab.yml, the license, the
// database's own facts, and a JSON-valued class.
func TestClassesExactValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	defs := map[string]string{
		"issues_28d":  definition("test.issues_28d", "28d", "database", "optional", "instrumentation_class: CountIssuesMetric\n"),
		"issues_7d":   definition("test.issues_7d", "7d", "database", "optional", "instrumentation_class: CountIssuesMetric\n"),
		"issues_b7":   definition("test.issues_batched", "all", "database", "optional", "instrumentation_class: CountIssuesMetric\noptions: {batch_size: 7}\n"),
		"boards":      definition("test.boards", "all", "database", "optional", "instrumentation_class: CountBoardsMetric\n"),
		"ci_runners":  definition("test.ci_runners_28d", "28d", "database", "optional", "instrumentation_class: CountCiRunnersMetric\n"),
		"with_issues": definition("test.projects_with_issues", "28d", "database", "optional", "instrumentation_class: CountProjectsWithIssuesMetric\n"),
		"deploy_ok":   definition("test.deployments_success", "28d", "database", "optional", "instrumentation_class: CountDeploymentsMetric\noptions: {type: success}\n"),
		"sast_users":  definition("test.user_sast_jobs", "28d", "database", "optional", "instrumentation_class: CountUsersCreatingCiBuildsMetric\noptions: {secure_type: sast}\n"),
		"all_users":   definition("test.user_all_scanners", "7d", "database", "optional", "instrumentation_class: CountUsersCreatingCiBuildsMetric\noptions: {secure_type: all}\n"),
		"dast_pipes":  definition("test.dast_pipeline", "[28d, all]", "database", "optional", "instrumentation_class: CountSecurePipelinesMetric\noptions: {scan_type: dast}\n"),
		"sast_pipes":  definition("test.sast_pipeline", "[28d, all]", "database", "optional", "instrumentation_class: CountSecurePipelinesMetric\noptions: {scan_type: sast}\n"),
		// Classes with an option that changes what they count.
		"fuzz_scans": definition("test.coverage_fuzzing_scans", "28d", "database", "optional", "instrumentation_class: CountSecurityScansMetric\noptions: {scan_type: coverage_fuzzing}\n"),
		"dast_jobs":  definition("test.dast_jobs", "7d", "database", "optional", "instrumentation_class: CountCiBuildsMetric\noptions: {secure_type: dast}\n"),
		// GitLab's classes of the fourth unseen set.
		"epic_depth": definition("test.epics_deepest_relationship_level", "all", "database", "optional", "instrumentation_class: EpicsDeepestRelationshipLevelMetric\n"),
		"sec_dash":   definition("test.user_preferences_group_overview_security_dashboard", "28d", "database", "optional", "instrumentation_class: CountUserPreferencesGroupOverviewSecurityDashboardMetric\n"),
		"jira_list":  definition("test.projects_jira_issuelist_active", "all", "database", "optional", "instrumentation_class: CountProjectsWithJiraIssuelistActiveMetric\n"),
		"more_apprv": definition("test.approval_project_rules_with_more_approvers_than_required", "all", "database", "optional",
			"instrumentation_class: ApprovalProjectRulesWithUserMetric\noptions: {count_type: more_approvers_than_required}\n"),
		"exact_apprv": definition("test.approval_project_rules_with_exact_required_approvers", "28d", "database", "optional",
			"instrumentation_class: ApprovalProjectRulesWithUserMetric\noptions: {count_type: exact_required_approvers}\n"),
		"generic_db":  definition("test.closed_issue_authors", "7d", "database", "optional", "instrumentation_class: DatabaseMetric\noptions: {operation: distinct_count, table: issues, column: author_id, where: \"state_id = 2\", batch_size: 13}\n"),
		"dormant":     definition("test.deactivate_dormant_users_period", "none", "database", "optional", "instrumentation_class: DormantUserPeriodSettingMetric\n"),
		"usage_data":  definition("test.product_usage_data_enabled", "none", "system", "optional", "instrumentation_class: GitlabSettingsMetric\noptions: {setting_method: \"gitlab_product_usage_data_enabled?\"}\n"),
		"allowlist":   definition("test.catalog_allowlist", "none", "database", "optional", "instrumentation_class: CiCdCatalogProjectsAllowlistConfiguredMetric\n"),
		"registry":    definition("test.container_registry_enabled", "none", "system", "operational", "instrumentation_class: GitlabConfigMetric\noptions: {config: {registry: enabled}}\n"),
		"hist_max":    definition("test.historical_max_users", "none", "license", "subscription", "instrumentation_class: HistoricalMaxUsersMetric\n"),
		"billable":    definition("test.license_billable_users", "all", "database", "subscription", "instrumentation_class: LicenseMetric\noptions: {attribute: daily_billable_users_count}\n"),
		"pg_id":       definition("database.pg_system_id", "none", "system", "optional", ""),
		"pg_version":  definition("database.version", "none", "system", "optional", ""),
		"migrations":  definition("test.batched_background_migrations", "7d", "database", "optional", "instrumentation_class: BatchedBackgroundMigrationsMetric\n"),
		"desk_issues": definition("counts.service_desk_issues", "all", "database", "operational", ""),
		"gke_28d":     definition("usage_activity_by_stage_monthly.configure.clusters_platforms_gke", "28d", "database", "optional", ""),
		"events_28d":  definition("usage_activity_by_stage_monthly.manage.events", "28d", "database", "optional", ""),
		"pages":       definition("gitlab_pages.version", "none", "system", "operational", ""),
		"servers":     definition("gitaly.servers", "none", "system", "operational", ""),
		"provider":    definition("object_store.uploads.object_store.provider", "none", "system", "optional", ""),
		// The class families and GitLab's own legacy queries.
		"dormant_on":  definition("deactivate_dormant_users_enabled", "none", "database", "optional", "instrumentation_class: DormantUserSettingEnabledMetric\n"),
		"cert_ff":     definition("settings.certificate_based_clusters_ff", "none", "database", "optional", "instrumentation_class: CertBasedClustersFfMetric\n"),
		"obs_ff":      definition("settings.observability_features_ff", "none", "database", "optional", "instrumentation_class: ObservabilityFeaturesFfMetric\n"),
		"ldap_secret": definition("settings.ldap_encrypted_secrets_enabled", "none", "system", "optional", "instrumentation_class: LdapEncryptedSecretsMetric\n"),
		"smtp_secret": definition("settings.smtp_encrypted_secrets_enabled", "none", "system", "optional", "instrumentation_class: SmtpEncryptedSecretsMetric\n"),
		"mr_create": `---
data_category: Optional
key_path: counts.merge_request_create
description: legacy vintage, as GitLab's 2021 files
product_section: dev
product_stage: create
product_group: group::code review
value_type: number
status: data_available
time_frame: all
data_source: redis
distribution: [ce, ee]
tier: [free]
`,
		"codeowners": definition("usage_activity_by_stage_monthly.create.merge_requests_with_required_codeowners", "28d", "database", "optional", ""),
		"proj_rules": definition("usage_activity_by_stage_monthly.create.approval_project_rules", "28d", "database", "optional", ""),
		// GitLab's legacy queries over the tables the seed has from
		// GitLab's structure.sql for them.
		"assignee_lists": definition("usage_activity_by_stage_monthly.plan.assignee_lists", "28d", "database", "optional", ""),
		"mirrored":       definition("usage_activity_by_stage_monthly.release.projects_mirrored_with_pipelines_enabled", "28d", "database", "optional", ""),
		"tf_states":      definition("counts.terraform_states", "all", "database", "optional", ""),
		"prom_apps":      definition("usage_activity_by_stage_monthly.monitor.clusters_applications_prometheus", "28d", "database", "optional", ""),
		"github_ci":      definition("usage_activity_by_stage.verify.projects_reporting_ci_cd_back_to_github", "all", "database", "optional", ""),
		"codeowner_pb":   definition("usage_activity_by_stage.create.projects_enforcing_code_owner_approval", "all", "database", "optional", ""),
		"eks":            definition("usage_activity_by_stage_monthly.configure.clusters_platforms_eks", "28d", "database", "optional", ""),
		"lfs_lockers":    definition("usage_activity_by_stage_monthly.create.users_using_lfs_locks", "28d", "database", "optional", ""),
		"manual_reports": definition("counts.requirement_test_reports_manual", "all", "database", "optional", ""),
		"group_github":   definition("counts.groups_inheriting_github_active", "all", "database", "optional", ""),
		"status_issues":  definition("counts.status_page_issues", "all", "database", "optional", ""),
		"templates":      definition("counts.template_repositories", "all", "database", "optional", ""),
		"group_details":  definition("counts.user_preferences_group_overview_details", "all", "database", "optional", ""),
		"ldap_users":     definition("counts.ldap_users", "all", "database", "optional", ""),
		"group_members":  definition("usage_activity_by_stage.manage.groups", "all", "database", "optional", ""),
		"cilium":         definition("counts.clusters_applications_cilium", "all", "database", "optional", ""),
		"incident_sla":   definition("usage_activity_by_stage.monitor.projects_incident_sla_enabled", "all", "database", "optional", ""),
		// Setting classes named in other words than their column.
		"pw_numbers": definition("settings.numbers_password_complexity_required", "none", "database", "optional",
			"instrumentation_class: NumbersPasswordComplexityRequiredMetric\n"),
		"pw_upper": definition("settings.upper_case_letters_password_complexity_required", "none", "database", "optional",
			"instrumentation_class: UpperCaseLettersPasswordComplexityRequiredMetric\n"),
		"ssh_lifetime": definition("settings.maximum_ssh_key_lifetime", "none", "database", "optional",
			"instrumentation_class: MaximumSshKeysLifetimeEnabledMetric\n"),
		"spamcheck": definition("settings.anti_spam.spamcheck_enabled", "none", "database", "optional",
			"instrumentation_class: SpamcheckEnabledMetric\n"),
		// Settings GitLab keeps in jsonb columns, absent there: GitLab's
		// jsonb_accessor defaults.
		"zoekt": definition("settings.zoekt_search_enabled", "none", "system", "optional", "instrumentation_class: ZoektSearchEnabledMetric\n"),
		"get_toolkit": definition("gitlab_environment_toolkit", "none", "database", "optional",
			"instrumentation_class: GitlabEnvironmentToolkitMetric\n"),
		"search_code": definition("test.global_search_code_enabled", "none", "system", "optional",
			"instrumentation_class: GitlabSettingsMetric\noptions: {setting_method: \"global_search_code_enabled?\"}\n"),
		"block_overage": definition("block_seat_overage_enabled", "none", "database", "optional",
			"instrumentation_class: BlockSeatOverageEnabledMetric\n"),
		"limited_indexing": definition("elasticsearch_limited_indexing_enabled", "none", "system", "optional",
			"instrumentation_class: AdvancedSearch::LimitedIndexingMetric\n"),
		// usage_data.rb's system switches, from gitlab.yml by name.
		"ldap_sync":  definition("usage_activity_by_stage.manage.ldap_group_sync_enabled", "none", "system", "optional", ""),
		"group_saml": definition("usage_activity_by_stage.manage.group_saml_enabled", "none", "system", "optional", ""),
		"pages_on":   definition("usage_activity_by_stage.release.pages_enabled", "none", "system", "optional", ""),
		"smtp_tls":   definition("usage_activity_by_stage.manage.smtp_tls_enabled", "none", "system", "optional", ""),
	}
	// Database-sourced aggregates merge the estimates' sketches.
	writeDefs(t, dir, defs, `
- name: dast_or_sast_pipelines
  operator: OR
  source: database
  time_frame: [28d, all]
  events: [dast_pipeline, sast_pipeline]
- name: dast_and_sast_pipelines
  operator: AND
  source: database
  time_frame: [all]
  events: [dast_pipeline, sast_pipeline]
`)
	secrets := t.TempDir() // GitLab's encrypted settings directory, holding LDAP's file only
	must(t, os.WriteFile(filepath.Join(secrets, "ldap.yaml.enc"), []byte("encrypted"), 0o600))
	col, ctx := seededInstance(t, dir, 20_000, func(c *Config) {
		c.FeatureFlags = map[string]bool{"certificate_based_clusters": false}
		if c.Gitlab == nil {
			c.Gitlab = map[string]any{}
		}
		c.Gitlab["encrypted_settings"] = map[string]any{"path": secrets}
		c.Gitlab["omniauth"] = map[string]any{"enabled": true, "providers": []any{
			map[string]any{"name": "github", "app_id": "x"}, map[string]any{"name": "group_saml"}}}
	})
	if p := col.Definitions().Problems; len(p) != 0 {
		t.Fatalf("test definitions rejected: %v", p)
	}
	// A legacy Redis counter without options: USAGE_<key path's last part>.
	must(t, col.rdb.Set(ctx, col.tracker.Prefix+"USAGE_MERGE_REQUEST_CREATE", 5, 0).Err())
	// Some project rules require as many approvers as they have.
	if _, err := col.pool.Exec(ctx, `UPDATE approval_project_rules r SET approvals_required = n.n
		FROM (SELECT approval_project_rule_id id, count(*) n FROM approval_project_rules_users GROUP BY 1) n WHERE n.id = r.id AND r.id % 3 = 0`); err != nil {
		t.Fatal(err)
	}
	res, _ := build(t, col, ctx)
	got := map[string]any{}
	flatten("", res.Payload, got)
	// smtp has no enabled and nothing of tls in the config: not known.
	expectFail := map[string]string{"usage_activity_by_stage.manage.smtp_tls_enabled": "nothing configured answers smtp_tls_enabled"}
	for _, m := range res.Metrics {
		if want, ok := expectFail[m.Name]; ok {
			if !strings.Contains(m.Error, want) {
				t.Errorf("%s: error %q, want %q", m.Name, m.Error, want)
			}
			delete(expectFail, m.Name)
		} else if m.Error != "" {
			t.Errorf("%s failed: %s", m.Name, m.Error)
		}
	}
	if len(expectFail) > 0 {
		t.Errorf("not computed at all: %v", expectFail)
	}

	pool := col.pool
	sql := func(q string) any {
		t.Helper()
		var v any
		if err := pool.QueryRow(ctx, q).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v
	}
	num := func(q string) int64 {
		t.Helper()
		switch v := sql(q).(type) {
		case int64:
			return v
		case int32:
			return int64(v)
		}
		t.Fatalf("%s: not an integer", q)
		return 0
	}
	exact := map[string]any{
		"test.issues_28d":           num("SELECT count(*) FROM issues WHERE " + window("created_at", "28d")),
		"test.issues_7d":            num("SELECT count(*) FROM issues WHERE " + window("created_at", "7d")),
		"test.issues_batched":       num("SELECT count(*) FROM issues"),
		"test.boards":               num("SELECT count(*) FROM boards"),
		"test.ci_runners_28d":       num("SELECT count(*) FROM ci_runners WHERE " + window("created_at", "28d")),
		"test.projects_with_issues": num("SELECT count(DISTINCT project_id) FROM issues WHERE " + window("created_at", "28d")),
		"test.deployments_success": num("SELECT count(*) FROM deployments WHERE status = 2 AND " +
			window("created_at", "28d")),
		"test.user_sast_jobs": num("SELECT count(DISTINCT user_id) FROM ci_builds WHERE type = 'Ci::Build' AND name = 'sast' AND " +
			window("created_at", "28d")),
		"test.user_all_scanners": num(`SELECT count(DISTINCT user_id) FROM ci_builds WHERE type = 'Ci::Build' AND name IN ('container_scanning',
			'dast', 'dependency_scanning', 'license_management', 'license_scanning', 'sast', 'secret_detection', 'coverage_fuzzing',
			'apifuzzer_fuzz', 'apifuzzer_fuzz_dnd') AND ` + window("created_at", "7d")),
		"test.coverage_fuzzing_scans": num("SELECT count(build_id) FROM security_scans WHERE scan_type = 6 AND " + window("created_at", "28d")),
		"test.dast_jobs":              num("SELECT count(*) FROM ci_builds WHERE type = 'Ci::Build' AND name = 'dast' AND " + window("created_at", "7d")),
		"test.epics_deepest_relationship_level": num(`WITH RECURSIVE d(id, depth) AS (SELECT id, 1 FROM epics WHERE parent_id IS NULL
			UNION ALL SELECT e.id, d.depth + 1 FROM epics e JOIN d ON e.parent_id = d.id) SELECT max(depth)::bigint FROM d`),
		"test.user_preferences_group_overview_security_dashboard": num(`SELECT count(*) FROM users WHERE state = 'active'
			AND (user_type IS NULL OR user_type IN (6, 4)) AND group_view = 2 AND ` + window("created_at", "28d")),
		"test.projects_jira_issuelist_active": num(`SELECT count(DISTINCT i.id) FROM integrations i JOIN jira_tracker_data j ON j.integration_id = i.id
			WHERE i.type_new = 'Integrations::Jira' AND i.active AND j.issues_enabled`),
		// Rules with approvers only (a rule without any is not counted).
		"test.approval_project_rules_with_more_approvers_than_required": num(`SELECT count(*) FROM (SELECT r.id FROM approval_project_rules r
			JOIN approval_project_rules_users u ON u.approval_project_rule_id = r.id WHERE r.rule_type = 0
			GROUP BY r.id HAVING count(*) > min(r.approvals_required)) s`),
		"test.approval_project_rules_with_exact_required_approvers": num(`SELECT count(*) FROM (SELECT r.id FROM approval_project_rules r
			JOIN approval_project_rules_users u ON u.approval_project_rule_id = r.id WHERE r.rule_type = 0 AND ` + window("r.created_at", "28d") + `
			GROUP BY r.id HAVING count(*) = min(r.approvals_required)) s`),
		"test.closed_issue_authors":            num("SELECT count(DISTINCT author_id) FROM issues WHERE state_id = 2 AND " + window("created_at", "7d")),
		"test.deactivate_dormant_users_period": num("SELECT deactivate_dormant_users_period FROM application_settings"),
		"test.product_usage_data_enabled":      sql("SELECT (service_ping_settings->>'gitlab_product_usage_data_enabled')::boolean FROM application_settings"),
		"test.catalog_allowlist":               sql("SELECT jsonb_array_length(ci_cd_settings->'ci_cd_catalog_projects_allowlist') > 0 FROM application_settings"),
		"test.container_registry_enabled":      true, // testdata/collector/config.yml gitlab.registry.enabled
		// The license runs 2025-01-01 … 2026-01-01; ref is inside it.
		"test.historical_max_users": num(`SELECT max(active_user_count) FROM historical_data
			WHERE recorded_at BETWEEN '2025-01-01' AND '` + ref.Format(time.RFC3339) + `'`),
		"test.license_billable_users": num("SELECT count FROM analytics_usage_trends_measurements WHERE identifier = 11 ORDER BY recorded_at DESC LIMIT 1"),
		"database.pg_system_id":       num("SELECT system_identifier FROM pg_control_system()"),
		"database.version":            strings.Fields(sql("SHOW server_version").(string))[0],
		"counts.service_desk_issues": num(`SELECT count(*) FROM issues WHERE project_id IN (SELECT id FROM projects WHERE service_desk_enabled)
			AND author_id IN (SELECT id FROM users WHERE user_type = 1) AND confidential`),
		"usage_activity_by_stage_monthly.configure.clusters_platforms_gke": num(`SELECT count(DISTINCT clusters.user_id) FROM clusters
			JOIN cluster_providers_gcp ON cluster_providers_gcp.cluster_id = clusters.id
			WHERE clusters.provider_type = 1 AND cluster_providers_gcp.status = 3 AND clusters.enabled AND ` + window("clusters.created_at", "28d")),
		"usage_activity_by_stage_monthly.manage.events": num("SELECT count(DISTINCT author_id) FROM events WHERE " + window("created_at", "28d")),
		"gitlab_pages.version":                          "17.0.2",
		"gitaly.servers":                                int64(2), // two repositories.storages in the config
		"object_store.uploads.object_store.provider":    "Google",
		"deactivate_dormant_users_enabled":              sql("SELECT deactivate_dormant_users FROM application_settings"),
		"settings.certificate_based_clusters_ff":        false, // configured off
		"settings.observability_features_ff":            true,  // not listed: on
		"settings.ldap_encrypted_secrets_enabled":       true,
		"settings.smtp_encrypted_secrets_enabled":       false,
		"counts.merge_request_create":                   int64(5),
		// GitLab 13.9's /usage_data/queries SQL for these key paths, over the
		// time frame's window; approval_project_rules was counted all time.
		"usage_activity_by_stage_monthly.create.merge_requests_with_required_codeowners": num(`SELECT count(DISTINCT merge_request_id)
			FROM approval_merge_request_rules WHERE rule_type = 2 AND approvals_required > 0 AND ` + window("created_at", "28d")),
		"usage_activity_by_stage_monthly.create.approval_project_rules": num("SELECT count(*) FROM approval_project_rules"),
		"usage_activity_by_stage_monthly.plan.assignee_lists": num("SELECT count(DISTINCT user_id) FROM lists WHERE list_type = 3 AND " +
			window("created_at", "28d")),
		"usage_activity_by_stage_monthly.release.projects_mirrored_with_pipelines_enabled": num(`SELECT count(DISTINCT p.creator_id)
			FROM projects p JOIN project_features f ON f.project_id = p.id
			WHERE p.mirror AND p.mirror_trigger_builds AND f.builds_access_level = 20 AND ` + window("p.created_at", "28d")),
		"counts.terraform_states": num("SELECT count(*) FROM terraform_states"),
		"usage_activity_by_stage_monthly.monitor.clusters_applications_prometheus": num(`SELECT count(DISTINCT c.user_id)
			FROM clusters_applications_prometheus a JOIN clusters c ON c.id = a.cluster_id WHERE a.status IN (3, 5) AND ` + window("a.created_at", "28d")),
		"usage_activity_by_stage.verify.projects_reporting_ci_cd_back_to_github": num(`SELECT count(DISTINCT p.creator_id) FROM projects p
			JOIN integrations i ON i.project_id = p.id WHERE i.type_new = 'Integrations::Github' AND i.pipeline_events AND i.active`),
		"usage_activity_by_stage.create.projects_enforcing_code_owner_approval": num(`SELECT count(DISTINCT p.creator_id) FROM projects p
			JOIN protected_branches b ON b.project_id = p.id WHERE b.code_owner_approval_required`),
		"usage_activity_by_stage_monthly.configure.clusters_platforms_eks": num(`SELECT count(DISTINCT c.user_id) FROM clusters c
			JOIN cluster_providers_aws a ON a.cluster_id = c.id WHERE c.provider_type = 2 AND a.status = 3 AND c.enabled AND ` + window("c.created_at", "28d")),
		"usage_activity_by_stage_monthly.create.users_using_lfs_locks": num("SELECT count(DISTINCT user_id) FROM lfs_file_locks WHERE " +
			window("created_at", "28d")),
		"counts.requirement_test_reports_manual": num("SELECT count(*) FROM requirements_management_test_reports WHERE build_id IS NULL"),
		"counts.groups_inheriting_github_active": num(`SELECT count(*) FROM integrations
			WHERE active AND group_id IS NOT NULL AND inherit_from_id IS NOT NULL AND type_new = 'Integrations::Github'`),
		"counts.status_page_issues": num(`SELECT count(*) FROM issues i JOIN projects p ON p.id = i.project_id
			JOIN status_page_settings s ON s.project_id = p.id JOIN status_page_published_incidents pi ON pi.issue_id = i.id
			WHERE s.enabled AND NOT i.confidential`),
		"counts.template_repositories": num(`SELECT (SELECT count(*) FROM projects WHERE namespace_id IS NULL) +
			(SELECT count(*) FROM projects p JOIN namespaces n ON p.namespace_id = n.custom_project_templates_group_id)`),
		"counts.user_preferences_group_overview_details": num(`SELECT count(*) FROM users WHERE state = 'active'
			AND (user_type IS NULL OR user_type IN (6, 4)) AND (group_view = 1 OR group_view IS NULL)`),
		"counts.ldap_users": num(`SELECT count(u.id) FROM users u JOIN identities i ON i.user_id = u.id WHERE i.provider LIKE 'ldap%'`),
		"usage_activity_by_stage.manage.groups": num(`SELECT count(DISTINCT user_id) FROM members
			WHERE type = 'GroupMember' AND source_type = 'Namespace'`),
		"counts.clusters_applications_cilium": num("SELECT count(*) FROM clusters_applications_cilium WHERE status IN (3, 5)"),
		"usage_activity_by_stage.monitor.projects_incident_sla_enabled": num(`SELECT count(*) FROM projects p
			JOIN project_incident_management_settings s ON s.project_id = p.id WHERE s.sla_timer`),
		"settings.numbers_password_complexity_required":            sql("SELECT password_number_required FROM application_settings"),
		"settings.upper_case_letters_password_complexity_required": sql("SELECT password_uppercase_required FROM application_settings"),
		"settings.maximum_ssh_key_lifetime":                        sql("SELECT max_ssh_key_lifetime IS NOT NULL FROM application_settings"),
		"settings.anti_spam.spamcheck_enabled":                     sql("SELECT spam_check_endpoint_enabled FROM application_settings"),
		"settings.zoekt_search_enabled":                            false, // declared default; zoekt_settings is {}
		"gitlab_environment_toolkit":                               false, // service_ping_settings has no such key
		"test.global_search_code_enabled":                          true,  // declared default true
		"block_seat_overage_enabled":                               sql("SELECT (user_seat_management->>'seat_control')::int = 2 FROM application_settings"),
		"elasticsearch_limited_indexing_enabled":                   sql("SELECT elasticsearch_limit_indexing FROM application_settings"),
		"usage_activity_by_stage.manage.ldap_group_sync_enabled":   false, // ldap.enabled: false in the config
		"usage_activity_by_stage.manage.group_saml_enabled":        true,  // an omniauth provider named group_saml
		"usage_activity_by_stage.release.pages_enabled":            true,  // pages.enabled
	}
	for k, want := range exact {
		gj, _ := json.Marshal(got[k])
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Errorf("%s = %s, hand-computed %s", k, gj, wj)
		}
	}
	for _, k := range []string{"test.issues_28d", "test.issues_7d", "test.user_sast_jobs", "usage_activity_by_stage_monthly.manage.events", "test.projects_with_issues",
		"counts.service_desk_issues", "test.deployments_success", "usage_activity_by_stage_monthly.create.merge_requests_with_required_codeowners",
		"usage_activity_by_stage_monthly.create.approval_project_rules", "usage_activity_by_stage_monthly.plan.assignee_lists",
		"usage_activity_by_stage_monthly.release.projects_mirrored_with_pipelines_enabled", "counts.terraform_states",
		"usage_activity_by_stage_monthly.monitor.clusters_applications_prometheus",
		"usage_activity_by_stage.verify.projects_reporting_ci_cd_back_to_github",
		"usage_activity_by_stage.create.projects_enforcing_code_owner_approval",
		"usage_activity_by_stage_monthly.configure.clusters_platforms_eks", "usage_activity_by_stage_monthly.create.users_using_lfs_locks",
		"counts.requirement_test_reports_manual", "counts.groups_inheriting_github_active", "test.coverage_fuzzing_scans", "test.dast_jobs",
		"counts.status_page_issues", "counts.template_repositories", "counts.user_preferences_group_overview_details", "counts.ldap_users",
		"usage_activity_by_stage.manage.groups", "counts.clusters_applications_cilium",
		"usage_activity_by_stage.monitor.projects_incident_sla_enabled", "test.epics_deepest_relationship_level", "test.projects_jira_issuelist_active",
		"test.user_preferences_group_overview_security_dashboard",
		"test.approval_project_rules_with_more_approvers_than_required", "test.approval_project_rules_with_exact_required_approvers"} {
		if n, _ := got[k].(int64); n == 0 {
			t.Errorf("%s is 0: the seed gives the test nothing to count", k)
		}
	}
	// The option counts a part of the table, not all of it.
	for k, whole := range map[string]int64{
		"test.coverage_fuzzing_scans": num("SELECT count(*) FROM security_scans WHERE " + window("created_at", "28d")),
		"test.dast_jobs":              num("SELECT count(*) FROM ci_builds WHERE " + window("created_at", "7d")),
	} {
		if n, _ := got[k].(int64); n >= whole {
			t.Errorf("%s = %d, not less than the %d rows of its window: the class's option is not applied", k, n, whole)
		}
	}

	// Estimates (HyperLogLog over id batches of 1,000) and the aggregates
	// merged from their sketches against exact distinct counts: within 2 %
	// of the count (of the union, for the intersection).
	near := func(key string, want, scale int64) {
		t.Helper()
		est, ok := got[key].(int64)
		if !ok || scale == 0 || math.Abs(float64(est-want)) > 0.02*float64(scale) {
			t.Errorf("%s = %v, exact %d", key, got[key], want)
		}
	}
	dast28 := num(`SELECT count(DISTINCT pipeline_id) FROM security_scans WHERE scan_type = 4 AND ` + window("created_at", "28d"))
	near("test.dast_pipeline_monthly", dast28, dast28)
	near("test.sast_pipeline", num(`SELECT count(DISTINCT pipeline_id) FROM security_scans WHERE scan_type = 1`), dast28)
	or28 := num(`SELECT count(DISTINCT pipeline_id) FROM security_scans WHERE scan_type IN (1, 4) AND ` + window("created_at", "28d"))
	near("counts_monthly.aggregated_metrics.dast_or_sast_pipelines", or28, or28)
	orAll := num(`SELECT count(DISTINCT pipeline_id) FROM security_scans WHERE scan_type IN (1, 4)`)
	near("counts.aggregate_dast_or_sast_pipelines", orAll, orAll)
	near("counts.aggregate_dast_and_sast_pipelines", num(`SELECT count(*) FROM (SELECT pipeline_id FROM security_scans
		WHERE scan_type IN (1, 4) GROUP BY pipeline_id HAVING count(DISTINCT scan_type) = 2) p`), orAll)

	// Without a billable-users measurement, billable users are counted in
	// users (find_latest_or_fallback).
	if _, err := pool.Exec(ctx, "DELETE FROM analytics_usage_trends_measurements"); err != nil {
		t.Fatal(err)
	}
	res2, _ := build(t, col, ctx)
	humans := num("SELECT count(*) FROM users WHERE state = 'active' AND (user_type IS NULL OR user_type IN (4, 6))")
	if b := res2.Payload["test"].(map[string]any)["license_billable_users"]; b != humans || humans == exact["test.license_billable_users"] {
		t.Errorf("billable users without measurements = %v, active humans %d (measured %v)", b, humans, exact["test.license_billable_users"])
	}

	// GitLab's 7d window of finished batched migrations, as JSON.
	var wantMigrations string
	must(t, pool.QueryRow(ctx, `SELECT COALESCE(json_agg(json_build_object('elapsed_time', EXTRACT(EPOCH FROM finished_at - started_at)::bigint,
		'job_class_name', job_class_name) ORDER BY id), '[]')::text FROM batched_background_migrations WHERE status = 3 AND `+
		window("finished_at", "7d")).Scan(&wantMigrations))
	gm, _ := json.Marshal(got["test.batched_background_migrations"])
	var a, b any
	must(t, json.Unmarshal(gm, &a))
	must(t, json.Unmarshal([]byte(wantMigrations), &b))
	if fmt.Sprint(a) != fmt.Sprint(b) || len(b.([]any)) == 0 {
		t.Errorf("batched migrations %s, hand-computed %s", gm, wantMigrations)
	}
}

// TestEventClassesExactValues tracks known occurrences and checks the
// event families: RedisHLLMetric with the top-level events list, internal
// events totals with a filter, sum(value), uniques by project, label and
// value, an aggregated metric (AND; another behind a feature flag that is
// off, left out), and the 7d/28d windows (a week-old
// occurrence counts in both, a three-week-old one only in 28d).
func TestEventClassesExactValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ev := func(events string) string { return "events:\n" + events }
	defs := map[string]string{
		"hll_top": definition("test.hll_top_weekly", "7d", "redis_hll", "optional",
			"instrumentation_class: RedisHLLMetric\n"+ev("  - name: ev_a\n    unique: user.id\n  - name: ev_b\n    unique: user.id\n")),
		"hll_top28": definition("test.hll_top_monthly", "28d", "redis_hll", "optional",
			"instrumentation_class: RedisHLLMetric\n"+ev("  - name: ev_a\n    unique: user.id\n  - name: ev_b\n    unique: user.id\n")),
		"total_filter": definition("test.total_failures", "all", "internal_events", "optional",
			ev("  - name: ev_int\n    filter: {label: failure}\n")),
		"total_7d": definition("test.total_weekly", "7d", "internal_events", "optional", ev("  - name: ev_int\n")),
		"sum":      definition("test.sum_value", "28d", "internal_events", "optional", ev("  - name: ev_int\n    operator: sum(value)\n")),
		"projects": definition("test.distinct_projects", "28d", "internal_events", "optional", ev("  - name: ev_int\n    unique: project.id\n")),
		"labels":   definition("test.distinct_labels", "28d", "internal_events", "optional", ev("  - name: ev_int\n    unique: label\n")),
		"values": definition("test.distinct_values_filtered", "28d", "internal_events", "optional",
			ev("  - name: ev_int\n    unique: value\n    filter: {property: flow}\n")),
		// A 2021 legacy file: no data source, time frame all; GitLab counted
		// the week.
		"visits": `---
data_category: Optional
key_path: analytics_unique_visits.ev_b
description: legacy vintage
product_section: dev
product_stage: manage
product_group: group::optimize
value_type: number
status: data_available
time_frame: all
data_source:
distribution:
tier:
skip_validation: true
`,
		// usage_data.rb's editor monthly active users (2021 vintage, no events).
		"ide_edit": legacyEditor("ide_edit"),
		"sfe_edit": legacyEditor("sfe_edit"),
	}
	writeDefs(t, dir, defs, `
- name: a_and_b
  operator: AND
  source: redis
  time_frame: [28d]
  events: [ev_a, ev_b]
- name: a_or_b_switched_off
  operator: OR
  source: redis
  time_frame: [28d]
  feature_flag: aggregate_switch
  events: [ev_a, ev_b]
`)
	col, ctx := seededInstance(t, dir, 200, func(c *Config) { c.FeatureFlags = map[string]bool{"aggregate_switch": false} })
	for _, p := range col.Definitions().Problems {
		if filepath.Base(p.File) != "visits.yml" { // skip_validation: kept though GitLab's schema rejects it
			t.Fatalf("test definition rejected: %v", p)
		}
	}
	tr := col.tracker
	at := func(d time.Time) { tr.Now = func() time.Time { return d } }
	week, threeWeeks := ref.AddDate(0, 0, -9), ref.AddDate(0, 0, -20)
	at(week)
	for u := 1; u <= 5; u++ { // ev_a: users 1-5 last week; ev_b: users 4-8 last week
		must(t, tr.TrackUnique(ctx, "ev_a", "user", fmt.Sprint(u)))
		must(t, tr.TrackUnique(ctx, "ev_b", "user", fmt.Sprint(u+3)))
	}
	at(threeWeeks) // ev_b: users 1 and 20 three weeks ago
	must(t, tr.TrackUnique(ctx, "ev_b", "user", "1", "20"))
	occ := []struct {
		when           time.Time
		project, label string
		property       string
		value          float64
	}{
		{week, "1", "failure", "flow", 2.5},
		{week, "2", "success", "flow", 4},
		{week, "2", "failure", "other", 1},
		{threeWeeks, "3", "failure", "flow", 10},
	}
	for _, o := range occ {
		at(o.when)
		must(t, tr.Track(ctx, eventtrack.Occurrence{Event: "ev_int", UserID: "7", ProjectID: o.project,
			Properties: map[string]any{"label": o.label, "property": o.property, "value": o.value}}))
	}
	edits := []struct {
		when  time.Time
		event string
		users []string
	}{
		{week, "g_edit_by_web_ide", []string{"1", "2"}},
		{week, "g_edit_by_sfe", []string{"2", "3"}},
		{threeWeeks, "g_edit_by_snippet_ide", []string{"4"}},
		{ref.AddDate(0, 0, -40), "g_edit_by_sse", []string{"5"}}, // before the 28 days
	}
	for _, e := range edits {
		at(e.when)
		must(t, tr.TrackUnique(ctx, e.event, "user", e.users...))
	}
	tr.Now = col.now
	res, _ := build(t, col, ctx)
	got := map[string]any{}
	flatten("", res.Payload, got)
	want := map[string]any{
		"usage_activity_by_stage_monthly.create.action_monthly_active_users_ide_edit": int64(4), // users 1-4, any editor
		"usage_activity_by_stage_monthly.create.action_monthly_active_users_sfe_edit": int64(2), // users 2, 3
		"test.hll_top_weekly":                       int64(8), // users 1-8
		"test.hll_top_monthly":                      int64(9), // and user 20
		"test.total_failures":                       int64(3), // label failure, all time
		"test.total_weekly":                         int64(3), // last complete week only
		"test.sum_value":                            17.5,     // 2.5 + 4 + 1 + 10
		"test.distinct_projects":                    int64(3), // 1, 2, 3
		"test.distinct_labels":                      int64(2), // failure, success
		"test.distinct_values_filtered":             int64(3), // property flow: 2.5, 4, 10
		"counts_monthly.aggregated_metrics.a_and_b": int64(3), // users 1, 4, 5 did both within 28d
		"analytics_unique_visits.ev_b":              int64(5), // users 4-8 last week, not 1 and 20 before
	}
	for k, w := range want {
		gj, _ := json.Marshal(got[k])
		wj, _ := json.Marshal(w)
		if string(gj) != string(wj) {
			t.Errorf("%s = %s, want %s", k, gj, wj)
		}
	}
	if v, ok := got["counts_monthly.aggregated_metrics.a_or_b_switched_off"]; ok {
		t.Errorf("aggregate behind a feature flag that is off computed: %v", v)
	}
}

// legacyEditor is a 2021 definition of usage_data.rb's
// action_monthly_active_users_<editor> (no class, no events).
func legacyEditor(editor string) string {
	return `---
data_category: Optional
key_path: usage_activity_by_stage_monthly.create.action_monthly_active_users_` + editor + `
description: legacy vintage
product_section: dev
product_stage: create
product_group: group::editor
product_category: web_ide
value_type: number
status: data_available
time_frame: 28d
data_source: redis_hll
distribution:
- ce
tier:
- free
`
}

// TestOptionalDataOff is GitLab's disable for paid tiers: with optional
// data off no metric of data category optional is computed or sent,
// operational and subscription metrics still are, and
// settings.collected_data_categories says which categories were collected.
func TestOptionalDataOff(t *testing.T) {
	t.Parallel()
	col, ctx := seededInstance(t, gitlabMetrics, 2_000, func(c *Config) { c.ExcludeOptional = true })
	res, _ := build(t, col, ctx)
	got := map[string]any{}
	flatten("", res.Payload, got)
	categories := map[string]string{}
	for _, m := range col.Definitions().Metrics {
		if m.Emitted() {
			categories[m.KeyPath] = m.DataCategory
		}
	}
	present := map[string]int{}
	for k := range got {
		if slices.Contains(payload.IdentityFields, k) {
			continue // always sent (the Versions application keys pings by them)
		}
		c, ok := categories[k]
		if !ok {
			for p, cat := range categories { // object-valued metrics: their leaves
				if strings.HasPrefix(k, p+".") {
					c, ok = cat, true
				}
			}
		}
		if !ok {
			continue
		}
		if c == "optional" || c == "" {
			t.Errorf("optional metric %s = %v in the payload", k, got[k])
		}
		present[c]++
	}
	if present["operational"] < 10 || present["subscription"] < 5 {
		t.Errorf("operational/subscription metrics present: %v", present)
	}
	for _, k := range []string{"license_user_count", "historical_max_users", "counts.ci_builds", "counts.merge_requests", "gitaly.servers"} {
		if _, ok := got[k]; !ok {
			t.Errorf("%s (operational or subscription) missing", k)
		}
	}
	col2, ctx2 := seededInstance(t, filepath.Join(repoTestdata, "metrics"), 200, func(c *Config) { c.ExcludeOptional = true })
	res2, _ := build(t, col2, ctx2)
	cats, _ := json.Marshal(res2.Payload["settings"].(map[string]any)["collected_data_categories"])
	if string(cats) != `["standard","subscription","operational"]` {
		t.Errorf("collected_data_categories = %s", cats)
	}
}

// TestHistogramFallback: a histogram metric (an object whose value schema
// is a histogram) that fails gets GitLab's {"-1": -1}, a plain object -1.
func TestHistogramFallback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	broken := "instrumentation_class: DatabaseMetric\noptions: {operation: count, table: no_such_table}\n"
	histogram := strings.Replace(definition("test.histogram", "all", "database", "optional", broken+
		"value_json_schema: config/metrics/objects_schemas/projects_with_enabled_alert_integrations_histogram.json\n"),
		"value_type: number", "value_type: object", 1)
	plain := strings.Replace(definition("test.plain_object", "all", "database", "optional", broken),
		"value_type: number", "value_type: object", 1)
	writeDefs(t, dir, map[string]string{"histogram": histogram, "plain": plain}, "[]")
	col, ctx := seededInstance(t, dir, 200, nil)
	if p := col.Definitions().Problems; len(p) != 0 {
		t.Fatalf("test definitions rejected: %v", p)
	}
	res, _ := build(t, col, ctx)
	got, _ := json.Marshal(res.Payload["test"])
	if string(got) != `{"histogram":{"-1":-1},"plain_object":-1}` {
		t.Errorf("fallbacks %s", got)
	}
}
