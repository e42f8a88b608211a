package classes

import (
	_ "embed"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/serviceping/serviceping/services/collector/internal/definitions"
)

// keyPathTable resolves legacy definitions that name no class: the meaning
// GitLab's usage_data.rb gave each key path (its SQL is what GitLab's
// /usage_data/queries printed for it), written over today's table and
// column names. The definition's time frame adds GitLab's window on
// created_at, as usage_data.rb's monthly_time_range_db_params did.
func keyPathTable() map[string]definitions.MappingEntry {
	const securityJob = "type = 'Ci::Build'"
	return map[string]definitions.MappingEntry{
		// counts.*
		"counts.merge_requests":                 count("merge_requests", ""),
		"counts.suggestions":                    count("suggestions", ""),
		"counts.ci_builds":                      count("ci_builds", securityJob),
		"counts.ci_runners":                     count("ci_runners", ""),
		"counts.ci_pipeline_config_auto_devops": count("ci_pipelines", "config_source = 2"),
		"counts.auto_devops_disabled":           count("project_auto_devops", "enabled = FALSE"),
		"counts.project_clusters_enabled":       count("clusters", "enabled = TRUE AND cluster_type = 3"),
		"counts.kubernetes_agents":              count("cluster_agents", ""),
		"counts.kubernetes_agents_with_token":   distinct("cluster_agent_tokens", "agent_id", "", ""),
		"counts.service_desk_enabled_projects":  count("projects", "service_desk_enabled = TRUE"),
		"counts.service_desk_issues": count("issues",
			"issues.project_id IN (SELECT id FROM projects WHERE service_desk_enabled = TRUE) AND issues.author_id IN (SELECT id FROM users WHERE user_type = 1) AND issues.confidential = TRUE"),
		"counts.license_management_jobs": count("ci_builds", securityJob+" AND name = 'license_management'"),
		"counts_monthly.snippets":        count("snippets", ""),
		"counts_monthly.deployments":     count("deployments", ""),
		"active_user_count": count("users",
			"state = 'active' AND (user_type IS NULL OR user_type IN (4, 6))"),

		// usage_activity_by_stage(_monthly).*: distinct users or projects.
		"usage_activity_by_stage_monthly.create.projects_with_disable_overriding_approvers_per_merge_request": count("projects",
			"disable_overriding_approvers_per_merge_request = TRUE"),
		"usage_activity_by_stage_monthly.create.merge_requests_with_added_rules": distinct("approval_merge_request_rules", "merge_request_id",
			"LEFT OUTER JOIN approval_merge_request_rule_sources ON approval_merge_request_rule_sources.approval_merge_request_rule_id = approval_merge_request_rules.id",
			"approval_merge_request_rule_sources.approval_merge_request_rule_id IS NULL"),
		"usage_activity_by_stage_monthly.create.projects_with_repositories_enabled": distinct("projects", "creator_id",
			"INNER JOIN project_features ON project_features.project_id = projects.id", "project_features.repository_access_level = 20"),
		"usage_activity_by_stage_monthly.configure.clusters_applications_cert_managers": distinct("clusters_applications_cert_managers", "clusters.user_id",
			"INNER JOIN clusters ON clusters.id = clusters_applications_cert_managers.cluster_id", "clusters_applications_cert_managers.status IN (3, 5)"),
		"usage_activity_by_stage_monthly.configure.clusters_enabled": distinct("clusters", "user_id", "", "clusters.enabled = TRUE"),
		"usage_activity_by_stage_monthly.configure.clusters_platforms_gke": distinct("clusters", "user_id",
			"INNER JOIN cluster_providers_gcp ON cluster_providers_gcp.cluster_id = clusters.id",
			"clusters.provider_type = 1 AND cluster_providers_gcp.status IN (3) AND clusters.enabled = TRUE"),
		"usage_activity_by_stage.configure.projects_slack_notifications_active": distinct("projects", "creator_id",
			"INNER JOIN integrations ON integrations.project_id = projects.id AND integrations.type_new = 'Integrations::Slack' AND integrations.active = TRUE", ""),
		"usage_activity_by_stage_monthly.verify.ci_builds":                distinct("ci_builds", "user_id", "", securityJob),
		"usage_activity_by_stage_monthly.verify.ci_pipeline_schedules":    distinct("ci_pipeline_schedules", "owner_id", "", ""),
		"usage_activity_by_stage_monthly.monitor.projects_with_incidents": distinct("issues", "project_id", "", "issue_type = 1"),
		"usage_activity_by_stage_monthly.manage.events":                   distinct("events", "author_id", "", ""),

		// Settings and switches.
		"elasticsearch_enabled": setting("elasticsearch_search"),
		"license_trial_ends_on": setting("license_trial_ends_on"),
		"geo_enabled":           value("SELECT EXISTS (SELECT 1 FROM geo_nodes)"),

		// Redis counters (Gitlab::UsageDataCounters::*Counter keys).
		"counts.cycle_analytics_views":   redisCounter("cycle_analytics", "views"),
		"counts.commit_comment":          redisCounter("note", "create_commit"),
		"counts.network_policy_forwards": redisCounter("network_policy", "forwards"),

		// Instance facts.
		"uuid":                                 fact("uuid"),
		"hostname":                             fact("hostname"),
		"version":                              fact("version"),
		"edition":                              fact("edition"),
		"installation_type":                    fact("installation_type"),
		"recorded_at":                          fact("recorded_at"),
		"recording_ce_finished_at":             fact("recording_finished_at"),
		"recording_ee_finished_at":             fact("recording_finished_at"),
		"topology":                             fact("topology"),
		"settings.operating_system":            fact("operating_system"),
		"settings.collected_data_categories":   fact("collected_data_categories"),
		"database.adapter":                     fact("database_adapter"),
		"database.version":                     fact("database_version"),
		"database.flavor":                      fact("database_flavor"),
		"database.pg_system_id":                fact("database_pg_system_id"),
		"git.version":                          fact("git_version"),
		"gitaly.version":                       config("gitaly.version"),
		"gitaly.servers":                       config("repositories.storages", "size"),
		"gitaly.clusters":                      config("gitaly.clusters"),
		"gitaly.filesystems":                   config("gitaly.filesystems"),
		"gitlab_pages.enabled":                 config("pages.enabled"),
		"gitlab_pages.version":                 config("pages.version"),
		"container_registry_server.vendor":     config("registry.vendor"),
		"container_registry_server.version":    config("registry.version"),
		"container_registry_server.db_enabled": config("registry.database.enabled"),
		"mail.smtp_server":                     config("smtp.address"),
	}
}

// knownEvents is GitLab's lib/gitlab/usage_data_counters/known_events/common.yml
// (NOTICE.md in this folder says where the file comes from): the Redis HLL
// events of GitLab's legacy categories, which a
// <category>_total_unique_counts metric counts together.
//
//go:embed known_events_common.yml
var knownEvents []byte

// gitlabCategories reads the events of each category of knownEvents.
func gitlabCategories(data []byte) (map[string][]any, error) {
	var events []struct{ Name, Category string }
	if err := yaml.Unmarshal(data, &events); err != nil {
		return nil, fmt.Errorf("parse GitLab's known events: %w", err)
	}
	out := map[string][]any{}
	for _, e := range events {
		out[e.Category] = append(out[e.Category], e.Name)
	}
	return out, nil
}

// categoryEvents is the category total family's Expand: the category's
// events as GitLab listed them, unless the definition names its own.
func categoryEvents(categories map[string][]any) func(map[string]any) (map[string]any, error) {
	return func(o map[string]any) (map[string]any, error) {
		evs, ok := categories[str(o, "category")]
		if _, named := o["events"]; named || !ok {
			return o, nil
		}
		o = maps.Clone(o)
		o["events"] = slices.Clone(evs)
		return o, nil
	}
}

// patternTable resolves legacy key path families; categories are the
// events of GitLab's legacy event categories.
func patternTable(categories map[string][]any) []definitions.PatternEntry {
	return []definitions.PatternEntry{
		// Top-level <feature>_enabled switches (usage_data.rb
		// features_usage_data): the instance setting of that name, from the
		// configured settings or application_settings.
		{Match: regexp.MustCompile(`^([a-z][a-z0-9_]*_enabled)$`),
			MappingEntry: definitions.MappingEntry{Class: "GitlabSettingsMetric", Source: SourceSetting,
				Options: map[string]any{"setting": "{1}"}}},
		// object_store.<type>.enabled and .object_store.<field> read
		// Gitlab.config.<type> (usage_data.rb object_store_usage_data);
		// the provider sits under object_store.connection.
		{Match: regexp.MustCompile(`^object_store\.(\w+)\.object_store\.provider$`),
			MappingEntry: definitions.MappingEntry{Class: "GitlabConfigMetric", Source: SourceConfig,
				Options: map[string]any{"path": "{1}.object_store.connection.provider"}}},
		{Match: regexp.MustCompile(`^object_store\.(\w+)\.object_store\.(\w+)$`),
			MappingEntry: definitions.MappingEntry{Class: "GitlabConfigMetric", Source: SourceConfig,
				Options: map[string]any{"path": "{1}.object_store.{2}"}}},
		{Match: regexp.MustCompile(`^object_store\.(\w+)\.enabled$`),
			MappingEntry: definitions.MappingEntry{Class: "GitlabConfigMetric", Source: SourceConfig,
				Options: map[string]any{"path": "{1}.enabled"}}},
		// <…>.<name>_enabled system switches of usage_data.rb that no
		// table above names (usage_activity_by_stage.manage.ldap_group_sync_enabled):
		// answered from gitlab.yml by name (instrument's config switch).
		{Match: regexp.MustCompile(`^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\.([a-z][a-z0-9_]*)_enabled$`),
			MappingEntry: definitions.MappingEntry{Source: SourceFact,
				Options: map[string]any{"attribute": "config_switch", "name": "{1}"}}},
		// analytics_unique_visits.<target>: usage_data.rb's
		// analytics_unique_visits_data, unique visitors of the target over
		// the week whatever the file's time frame (unique_visits_for's
		// default range); for_any_target(_monthly) every analytics event,
		// over the week (the month).
		{Match: regexp.MustCompile(`^analytics_unique_visits\.analytics_unique_visits_for_any_target$`),
			MappingEntry: definitions.MappingEntry{Class: "RedisHLLMetric", Source: SourceRedisHLL,
				Options: map[string]any{"category": "analytics", "time_frame": "7d"}}},
		{Match: regexp.MustCompile(`^analytics_unique_visits\.analytics_unique_visits_for_any_target_monthly$`),
			MappingEntry: definitions.MappingEntry{Class: "RedisHLLMetric", Source: SourceRedisHLL,
				Options: map[string]any{"category": "analytics", "time_frame": "28d"}}},
		{Match: regexp.MustCompile(`^analytics_unique_visits\.(\w+)$`),
			MappingEntry: definitions.MappingEntry{Class: "RedisHLLMetric", Source: SourceRedisHLL,
				Options: map[string]any{"events": []any{"{1}"}, "time_frame": "7d"}}},
		// usage_activity_by_stage_monthly.create.action_monthly_active_users_<editor>_edit:
		// usage_data.rb's ide_monthly_active_users, GitLab's
		// EditorUniqueCounter — each editor its event (the snippet editor's
		// is g_edit_by_snippet_ide), and ide_edit every event of the
		// ide_edit category (count_edit_using_editor).
		{Match: regexp.MustCompile(`^usage_activity_by_stage_monthly\.create\.action_monthly_active_users_ide_edit$`),
			MappingEntry: definitions.MappingEntry{Class: "RedisHLLMetric", Source: SourceRedisHLL,
				Options: map[string]any{"category": "ide_edit"}, Expand: categoryEvents(categories)}},
		{Match: regexp.MustCompile(`^usage_activity_by_stage_monthly\.create\.action_monthly_active_users_snippet_editor_edit$`),
			MappingEntry: definitions.MappingEntry{Class: "RedisHLLMetric", Source: SourceRedisHLL,
				Options: map[string]any{"events": []any{"g_edit_by_snippet_ide"}}}},
		{Match: regexp.MustCompile(`^usage_activity_by_stage_monthly\.create\.action_monthly_active_users_(web_ide|sfe|sse)_edit$`),
			MappingEntry: definitions.MappingEntry{Class: "RedisHLLMetric", Source: SourceRedisHLL,
				Options: map[string]any{"events": []any{"g_edit_by_{1}"}}}},
		// redis_hll_counters.<category>.<category>_total_unique_counts_<period>:
		// the union of the category's events (usage_data.rb
		// redis_hll_counters, Gitlab::UsageDataCounters::HLLRedisCounter).
		// The events are GitLab's for the category (known_events/common.yml)
		// when the definition lists none; else the instance's registry's.
		{Match: regexp.MustCompile(`^redis_hll_counters\.(\w+)\.\w+_total_unique_counts_(?:weekly|monthly)$`),
			MappingEntry: definitions.MappingEntry{Class: "RedisHLLMetric", Source: SourceRedisHLL,
				Options: map[string]any{"category": "{1}"}, Expand: categoryEvents(categories)}},
		// redis_hll_counters.<category>.<event>_<period>: the event itself.
		{Match: regexp.MustCompile(`^redis_hll_counters\.\w+\.(\w+?)_(?:weekly|monthly)$`),
			MappingEntry: definitions.MappingEntry{Class: "RedisHLLMetric", Source: SourceRedisHLL,
				Options: map[string]any{"events": []any{"{1}"}}}},
	}
}
