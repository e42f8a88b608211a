// Package classes is the collector's built-in table of GitLab's
// instrumentation classes: for each class GitLab's Ruby code defines
// (lib/gitlab/usage/metrics/instrumentations), the source that reproduces
// it — SQL over GitLab's schema (internal/instancedb holds the subset it
// reads), an application setting, a gitlab.yml value, an instance fact, the
// license, Redis — with the options GitLab's class hard-codes. Legacy
// definitions that name no class resolve by key path where GitLab's code
// (usage_data.rb and its successors) fixed their meaning.
//
// Sources, as instrument.Env runs them:
//
//   - database: DatabaseMetric options (operation, table, column, joins,
//     where, time_column, start, finish, batch_size), or query: one SQL value
//     ({window_start}/{window_end} replaced by the time frame's bounds);
//   - setting: an application_settings column or a key of one of its jsonb
//     columns (options setting, test: present|positive);
//   - config: a gitlab.yml path (options config, GitlabConfigMetric's nested
//     form, or path "a.b.c"; test: present);
//   - fact: an instance fact (options attribute: uuid, database_version,
//     git_version, topology, collected_data_categories, …);
//   - license: a license attribute, historical_max or
//     daily_billable_users_count;
//   - redis, redis_hll, internal_events, aggregate, prometheus: events and
//     counters as the definitions name them.
package classes

import (
	"fmt"
	"maps"
	"regexp"
	"strings"

	"github.com/serviceping/serviceping/services/collector/internal/definitions"
)

// Sources a resolved metric can name.
const (
	SourceDatabase       = "database"
	SourceSetting        = "setting"
	SourceConfig         = "config"
	SourceFact           = "fact"
	SourceLicense        = "license"
	SourceRedis          = "redis"
	SourceRedisHLL       = "redis_hll"
	SourceInternalEvents = "internal_events"
	SourceAggregate      = "aggregate"
	SourcePrometheus     = "prometheus"
)

// SecureProductTypes are the CI job names GitLab counts as security scanners
// (EE::Gitlab::UsageData::SECURE_PRODUCT_TYPES); "all" counts any of them.
var SecureProductTypes = []string{
	"container_scanning", "dast", "dependency_scanning", "license_management", "license_scanning",
	"sast", "secret_detection", "coverage_fuzzing", "apifuzzer_fuzz", "apifuzzer_fuzz_dnd",
}

// ScanTypes is Security::Scan's scan_type enum.
var ScanTypes = map[string]int{
	"sast": 1, "dependency_scanning": 2, "container_scanning": 3, "dast": 4, "secret_detection": 5,
	"coverage_fuzzing": 6, "api_fuzzing": 7, "cluster_image_scanning": 8,
}

// DeploymentStatuses is Deployment's status enum.
var DeploymentStatuses = map[string]int{
	"created": 0, "running": 1, "success": 2, "failed": 3, "canceled": 4, "skipped": 5, "blocked": 6,
}

func db(opts map[string]any) definitions.MappingEntry {
	return definitions.MappingEntry{Class: "DatabaseMetric", Source: SourceDatabase, Options: opts}
}

func count(table, where string) definitions.MappingEntry {
	o := map[string]any{"operation": "count", "table": table}
	if where != "" {
		o["where"] = where
	}
	return db(o)
}

func distinct(table, column, joins, where string) definitions.MappingEntry {
	o := map[string]any{"operation": "distinct_count", "table": table, "column": column}
	if joins != "" {
		o["joins"] = joins
	}
	if where != "" {
		o["where"] = where
	}
	return db(o)
}

func value(query string) definitions.MappingEntry {
	return definitions.MappingEntry{Source: SourceDatabase, Options: map[string]any{"query": query}}
}

func setting(name string, test ...string) definitions.MappingEntry {
	o := map[string]any{"setting": name}
	if len(test) > 0 {
		o["test"] = test[0]
	}
	return definitions.MappingEntry{Class: "GitlabSettingsMetric", Source: SourceSetting, Options: o}
}

func config(path string, test ...string) definitions.MappingEntry {
	o := map[string]any{"path": path}
	if len(test) > 0 {
		o["test"] = test[0]
	}
	return definitions.MappingEntry{Class: "GitlabConfigMetric", Source: SourceConfig, Options: o}
}

func fact(attribute string, extra ...string) definitions.MappingEntry {
	o := map[string]any{"attribute": attribute}
	for i := 0; i+1 < len(extra); i += 2 {
		o[extra[i]] = extra[i+1]
	}
	return definitions.MappingEntry{Source: SourceFact, Options: o}
}

func license(attribute string) definitions.MappingEntry {
	return definitions.MappingEntry{Class: "LicenseMetric", Source: SourceLicense, Options: map[string]any{"attribute": attribute}}
}

func redisCounter(prefix, event string) definitions.MappingEntry {
	return definitions.MappingEntry{Class: "RedisMetric", Source: SourceRedis, Options: map[string]any{"prefix": prefix, "event": event}}
}

// str is an option as a string ("" when absent).
func str(o map[string]any, k string) string {
	if v, ok := o[k]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Builtin returns the built-in mapping: GitLab's classes, the legacy key
// paths (the hand-written table over GitLab's own queries answer) and key
// path families. A fresh value each call (callers may chain it under a
// file's mapping).
func Builtin() *definitions.Mapping {
	keyPaths := keyPathTable()
	queries, err := catalogueEntries(usageDataQueries)
	if err != nil {
		panic(err) // the embedded file is part of the binary: a test fails first
	}
	for k, e := range queries {
		if _, ok := keyPaths[k]; !ok {
			keyPaths[k] = e
		}
	}
	categories, err := gitlabCategories(knownEvents)
	if err != nil {
		panic(err) // likewise
	}
	names := applicationSettingNames()
	return &definitions.Mapping{Classes: classTable(), ClassPatterns: classPatterns(names), ClassResolver: names.class,
		KeyPaths: keyPaths, Patterns: patternTable(categories)}
}

// classPatterns are GitLab's class naming families. Count<Records>Metric
// counts the table of its model (CountBoardsMetric → boards,
// CountCiRunnersMetric → ci_runners) within the time frame, as GitLab's
// DatabaseMetric subclasses named so do; a name whose table the instance
// lacks fails with the database's "relation does not exist".
func classPatterns(names settingNames) []definitions.PatternEntry {
	return []definitions.PatternEntry{{
		// <Name>EncryptedSecrets(Enabled)Metric: GitLab's
		// Settings.encrypted(<name>'s secret file).active? — whether the
		// encrypted settings file exists (LdapEncryptedSecretsMetric,
		// IncomingEmailEncryptedSecretsEnabledMetric).
		Match: regexp.MustCompile(`^([A-Z][A-Za-z0-9]*?)EncryptedSecrets(?:Enabled)?Metric$`),
		MappingEntry: definitions.MappingEntry{Source: SourceFact,
			Options: map[string]any{"attribute": "encrypted_secrets"},
			Expand:  fromName("secrets")},
	}, {
		// <Name>FfMetric: whether a GitLab feature flag is on, the flag
		// named by the key path (settings.certificate_based_clusters_ff →
		// certificate_based_clusters).
		Match:        regexp.MustCompile(`^[A-Z][A-Za-z0-9]*FfMetric$`),
		MappingEntry: definitions.MappingEntry{Source: SourceFact, Options: map[string]any{"attribute": "feature_flag"}},
	}, {
		// AdvancedSearch::<Field>Metric: a field of the search server's
		// version information (BuildTypeMetric → build_type,
		// VersionMetric → number); a name that is no such field: the
		// advanced search setting it means (GitLab's are elasticsearch_*:
		// LimitedIndexingMetric → elasticsearch_limit_indexing); else it
		// fails.
		Match: regexp.MustCompile(`^AdvancedSearch::([A-Z][A-Za-z0-9]*)Metric$`),
		MappingEntry: definitions.MappingEntry{Source: SourceFact, Options: map[string]any{"attribute": "search_version"},
			Expand: func(o map[string]any) (map[string]any, error) {
				o, err := fromName("field")(o)
				field := str(o, "field")
				if m, ok := names.byName("elasticsearch_" + field); ok && !SearchVersionFields[field] && field != "version" {
					o["setting"] = m.column // a fact with a setting reads the setting
				}
				return o, err
			}},
	}, {
		// <Setting>EnabledMetric: GenericMetric subclasses reading
		// Gitlab::CurrentSettings.<setting>_enabled (SnowplowEnabledMetric,
		// AkismetEnabledMetric), else the setting the key path names (its
		// last part, with and without _enabled:
		// DormantUserSettingEnabledMetric for deactivate_dormant_users_enabled
		// reads deactivate_dormant_users); <Name>ExpirationEnabledMetric,
		// failing those, whether <name>_expiration_interval is set; last,
		// the column the class name means in other words (settingNames:
		// MaximumSshKeysLifetimeEnabledMetric → max_ssh_key_lifetime, set or
		// not). An instance without any of them fails with "no such column
		// or jsonb key".
		Match: regexp.MustCompile(`^([A-Z][A-Za-z0-9]*)EnabledMetric$`),
		MappingEntry: definitions.MappingEntry{Class: "GitlabSettingsMetric", Source: SourceSetting,
			Expand: func(o map[string]any) (map[string]any, error) {
				o = maps.Clone(o)
				name := snake(str(o, "1"))
				o["setting"] = name + "_enabled"
				o["key_path_candidates"] = true
				if strings.HasSuffix(name, "_expiration") {
					o["interval"] = name + "_interval"
				}
				if m, ok := names.byName(name + "_enabled"); ok {
					o["matched_setting"] = m.column
					if !m.boolean {
						o["matched_test"] = "present"
					}
				}
				delete(o, "1")
				return o, nil
			}},
	}, {
		// Count<Owners>With<Records>Metric: the distinct owners of the
		// records (CountProjectsWithMlExperimentsMetric → distinct
		// project_id of ml_experiments).
		Match: regexp.MustCompile(`^Count([A-Z][a-z]+)s?With([A-Z][A-Za-z0-9]*[a-z]s)Metric$`),
		MappingEntry: definitions.MappingEntry{Class: "DatabaseMetric", Source: SourceDatabase,
			Options: map[string]any{"operation": "distinct_count"}, Applies: batchOnly,
			Expand: func(o map[string]any) (map[string]any, error) {
				o = maps.Clone(o)
				o["column"] = strings.TrimSuffix(snake(str(o, "1")), "s") + "_id"
				o["table"] = snake(str(o, "2"))
				delete(o, "1")
				delete(o, "2")
				return o, nil
			}},
	}, {
		Match: regexp.MustCompile(`^Count([A-Z][A-Za-z0-9]*[a-z]s)Metric$`),
		MappingEntry: definitions.MappingEntry{Class: "DatabaseMetric", Source: SourceDatabase,
			Options: map[string]any{"operation": "count"}, Applies: batchOnly,
			Expand: fromName("table")},
	}}
}

// activeHumans is GitLab's User.active: active users that are people
// (user_type unset) or the service and project bot types it counts (6, 4).
const activeHumans = "state = 'active' AND (user_type IS NULL OR user_type IN (4, 6))"

// batchOnly is what the database families apply of a definition's
// options: its batch size changes how a count runs, not what it counts.
var batchOnly = []string{"batch_size"}

// SearchVersionFields are the fields of the search server's version object
// (Elasticsearch's and OpenSearch's root endpoint).
var SearchVersionFields = map[string]bool{"number": true, "distribution": true, "build_flavor": true, "build_type": true,
	"build_hash": true, "build_date": true, "build_snapshot": true, "lucene_version": true,
	"minimum_wire_compatibility_version": true, "minimum_index_compatibility_version": true}

// fromName is a family's Expand that sets option key to the snake_case
// form of the class name's captured part.
func fromName(key string) func(map[string]any) (map[string]any, error) {
	return func(o map[string]any) (map[string]any, error) {
		o = maps.Clone(o)
		o[key] = snake(str(o, "1"))
		delete(o, "1")
		return o, nil
	}
}

var camelBoundary = regexp.MustCompile(`([a-z0-9])([A-Z])`)

// snake turns a Ruby constant name into its table name's form
// (CiRunners → ci_runners).
func snake(s string) string { return strings.ToLower(camelBoundary.ReplaceAllString(s, "${1}_${2}")) }

func classTable() map[string]definitions.MappingEntry {
	t := map[string]definitions.MappingEntry{
		// Generic classes: what a definition (or a mapping) names to run a
		// source directly with its own options.
		"DatabaseMetric":        {Source: SourceDatabase},
		"GenericMetric":         {},
		"GitlabSettingsMetric":  {Source: SourceSetting},
		"GitlabConfigMetric":    {Source: SourceConfig},
		"LicenseMetric":         {Source: SourceLicense},
		"RedisMetric":           {Source: SourceRedis},
		"RedisHLLMetric":        {Source: SourceRedisHLL},
		"TotalCountMetric":      {Source: SourceInternalEvents},
		"UniqueCountMetric":     {Source: SourceInternalEvents},
		"TotalSumMetric":        {Source: SourceInternalEvents},
		"AggregatedMetric":      {Source: SourceAggregate},
		"PrometheusMetric":      {Source: SourcePrometheus},
		"PrometheusQueryMetric": {Source: SourcePrometheus},

		// Database counts.
		"CountIssuesMetric":     count("issues", ""),
		"ActiveUserCountMetric": count("users", activeHumans),
		// User.active.group_view_security_dashboard (group_view 2).
		"CountUserPreferencesGroupOverviewSecurityDashboardMetric": count("users", activeHumans+" AND group_view = 2"),
		"CountDeploymentsMetric": {Class: "DatabaseMetric", Source: SourceDatabase,
			Options: map[string]any{"operation": "count", "table": "deployments"}, Expand: deployments},
		"CountUsersCreatingCiBuildsMetric": {Class: "DatabaseMetric", Source: SourceDatabase,
			Options: map[string]any{"operation": "distinct_count", "table": "ci_builds", "column": "user_id",
				"start": "SELECT MIN(id) FROM users", "finish": "SELECT MAX(id) FROM users"},
			Expand: secureType},
		"CountCiBuildsMetric": {Class: "DatabaseMetric", Source: SourceDatabase,
			Options: map[string]any{"operation": "count", "table": "ci_builds", "batch_size": 1_000_000},
			Expand:  ciBuildsType},
		"CountSecurityScansMetric": {Class: "DatabaseMetric", Source: SourceDatabase,
			Options: map[string]any{"operation": "count", "table": "security_scans", "column": "build_id", "batch_size": 1_000_000,
				"start": "SELECT MIN(build_id) FROM security_scans", "finish": "SELECT MAX(build_id) FROM security_scans"},
			Expand: securityScansType},
		"CountSecurePipelinesMetric": {Class: "DatabaseMetric", Source: SourceDatabase,
			Options: map[string]any{"operation": "estimate_batch_distinct_count", "table": "security_scans",
				"column": "pipeline_id", "batch_size": 1000},
			Expand: scanType},
		"CountProjectsWithJiraIssuelistActiveMetric": {Class: "DatabaseMetric", Source: SourceDatabase,
			Options: map[string]any{"operation": "distinct_count", "table": "integrations", "column": "id",
				"joins":  "LEFT OUTER JOIN jira_tracker_data ON jira_tracker_data.integration_id = integrations.id",
				"where":  "integrations.type_new = 'Integrations::Jira' AND integrations.active AND jira_tracker_data.issues_enabled",
				"start":  "SELECT MIN(integration_id) FROM jira_tracker_data WHERE issues_enabled",
				"finish": "SELECT MAX(integration_id) FROM jira_tracker_data WHERE issues_enabled"}},
		"ApprovalProjectRulesWithUserMetric": {Source: SourceDatabase, Expand: approversCount,
			Options: map[string]any{"query": `SELECT count(*) FROM (SELECT approval_project_rules.id FROM approval_project_rules
  INNER JOIN approval_project_rules_users ON approval_project_rules_users.approval_project_rule_id = approval_project_rules.id
  WHERE approval_project_rules.rule_type = 0 AND approval_project_rules.created_at BETWEEN {window_start} AND {window_end}
  GROUP BY approval_project_rules.id HAVING COUNT(approval_project_rules_users) {compare} approval_project_rules.approvals_required) subquery`}},
		// Epic.deepest_relationship_level: the depth of the deepest tree of
		// epics from a root (1 for roots alone, 0 without epics).
		"EpicsDeepestRelationshipLevelMetric": value(`WITH RECURSIVE tree(id, depth) AS (
  SELECT id, 1 FROM epics WHERE parent_id IS NULL
  UNION SELECT epics.id, tree.depth + 1 FROM epics JOIN tree ON epics.parent_id = tree.id)
SELECT COALESCE(MAX(depth), 0)::bigint FROM tree`),
		"BatchedBackgroundMigrationsMetric": value(`SELECT COALESCE(json_agg(json_build_object('job_class_name', job_class_name,
  'elapsed_time', EXTRACT(EPOCH FROM finished_at)::bigint - EXTRACT(EPOCH FROM started_at)::bigint) ORDER BY id), '[]'::json)
FROM batched_background_migrations WHERE status = 3 AND finished_at BETWEEN {window_start} AND {window_end}`),

		// Application settings (Gitlab::CurrentSettings).
		"UserCapSettingEnabledMetric":                  setting("new_user_signups_cap"),
		"DormantUserPeriodSettingMetric":               setting("deactivate_dormant_users_period"),
		"GitlabDedicatedMetric":                        setting("gitlab_dedicated_instance"),
		"MaximumAccessTokenLifetimeEnabledMetric":      setting("max_personal_access_token_lifetime"),
		"McpServerEnabledMetric":                       setting("mcp_server_enabled"),
		"CiCdCatalogProjectsAllowlistConfiguredMetric": setting("ci_cd_catalog_projects_allowlist", "present"),
		"RunnerRegistrationTokensAllowedMetric":        setting("allow_runner_registration_token"),
		"InstanceRunnerTokenExpirationEnabledMetric":   setting("runner_token_expiration_interval", "positive"),
		"ServicePingFeaturesMetric":                    setting("usage_ping_features_enabled"),
		"SnowplowEnabledMetric":                        setting("snowplow_enabled"),
		"DuoAvailabilityMetric": value(`SELECT CASE WHEN duo_features_enabled IS NOT FALSE AND NOT lock_duo_features_enabled THEN 'default_on'
  WHEN NOT lock_duo_features_enabled THEN 'default_off' ELSE 'never_on' END FROM application_settings ORDER BY id DESC LIMIT 1`),
		"PackageRegistryMetadataSyncActivationByTypeMetric": value(`SELECT COALESCE(jsonb_object_agg(t.name, t.id ORDER BY t.id), '{}'::jsonb)
FROM application_settings s, unnest(s.package_metadata_purl_types) p(id)
JOIN (VALUES (1,'composer'),(2,'conan'),(3,'gem'),(4,'golang'),(5,'maven'),(6,'npm'),(7,'nuget'),(8,'pypi'),(9,'apk'),(10,'rpm'),
  (11,'deb'),(12,'cbl_mariner'),(13,'wolfi'),(14,'cargo'),(15,'swift'),(16,'conda')) t(id, name) ON t.id = p.id
WHERE s.id = (SELECT MAX(id) FROM application_settings)`),

		// gitlab.yml (Gitlab.config).
		"ReplyByEmailEnabledMetric":  config("incoming_email.enabled"),
		"RelativeUrlInstallMetric":   config("gitlab.relative_url_root", "present"),
		"ClickHouseConfiguredMetric": config("clickhouse.main.url", "present"),

		// Instance facts.
		"UuidMetric":                         fact("uuid"),
		"HostnameMetric":                     fact("hostname"),
		"VersionMetric":                      fact("version"),
		"InstallationTypeMetric":             fact("installation_type"),
		"EditionMetric":                      fact("edition"),
		"RecordedAtMetric":                   fact("recorded_at"),
		"UniqueInstanceIdMetric":             fact("unique_instance_id"),
		"DatabaseMode":                       fact("database_mode"),
		"CollectedDataCategoriesMetric":      fact("collected_data_categories"),
		"IndexInconsistenciesMetric":         fact("index_inconsistencies"),
		"SchemaInconsistenciesMetric":        fact("schema_inconsistencies"),
		"TestGitlabNetConnectivityMetric":    fact("gitlab_net_connectivity"),
		"ClickHouseServerVersionMetric":      fact("clickhouse_server_version"),
		"AdvancedSearch::DistributionMetric": fact("search_distribution"),
		"DatabaseAutovacuumFindingMetric":    fact("database_finding", "check", "autovacuum_settings"),
		"DatabaseDiagnosticsFindingMetric":   fact("database_finding"),
		"PatchedFilesMetric":                 {Source: SourceRedis, Options: map[string]any{"key": "patched_files"}},

		// License.
		"LicenseeMetrics":          license("licensee"),
		"HistoricalMaxUsersMetric": license("historical_max"),

		// Prometheus.
		"GitalyApdexMetric": {Source: SourcePrometheus,
			Options: map[string]any{"query": "avg_over_time(gitlab_usage_ping:gitaly_apdex:ratio_avg_over_time_5m[1w])"}},
	}
	return t
}

// deployments applies CountDeploymentsMetric's type option (all, success,
// failed).
func deployments(o map[string]any) (map[string]any, error) {
	o = maps.Clone(o)
	switch t := str(o, "type"); t {
	case "all":
	case "success", "failed":
		o["where"] = fmt.Sprintf("status = %d", DeploymentStatuses[t])
	case "":
		return nil, fmt.Errorf("missing deployment type")
	default:
		return nil, fmt.Errorf("invalid deployment type %q (all, success or failed)", t)
	}
	delete(o, "type")
	return o, nil
}

// secureType applies CountUsersCreatingCiBuildsMetric's secure_type.
func secureType(o map[string]any) (map[string]any, error) {
	o = maps.Clone(o)
	t := str(o, "secure_type")
	switch {
	case t == "all":
		names := make([]string, len(SecureProductTypes))
		for i, n := range SecureProductTypes {
			names[i] = quote(n)
		}
		o["where"] = "type = 'Ci::Build' AND name IN (" + strings.Join(names, ", ") + ")"
	case t == "":
		return nil, fmt.Errorf("secure_type options attribute is required")
	default:
		known := false
		for _, n := range SecureProductTypes {
			known = known || n == t
		}
		if !known {
			return nil, fmt.Errorf("secure_type %q is not allowed", t)
		}
		o["where"] = "type = 'Ci::Build' AND name = " + quote(t)
	}
	delete(o, "secure_type")
	return o, nil
}

// approversCount applies ApprovalProjectRulesWithUserMetric's count_type:
// regular project rules with more, fewer or exactly as many approvers as
// they require.
func approversCount(o map[string]any) (map[string]any, error) {
	compare, ok := map[string]string{"more_approvers_than_required": ">", "less_approvers_than_required": "<",
		"exact_required_approvers": "="}[str(o, "count_type")]
	if !ok {
		return nil, fmt.Errorf("count_type %q must be more_approvers_than_required, less_approvers_than_required or exact_required_approvers", str(o, "count_type"))
	}
	o = maps.Clone(o)
	o["query"] = strings.Replace(str(o, "query"), "{compare}", compare, 1)
	delete(o, "count_type")
	return o, nil
}

// ciBuildsType applies CountCiBuildsMetric's secure_type: one of the
// scanners' job names (no "all", unlike CountUsersCreatingCiBuildsMetric).
func ciBuildsType(o map[string]any) (map[string]any, error) {
	if t := str(o, "secure_type"); t == "all" {
		return nil, fmt.Errorf("secure_type %q is not allowed", t)
	}
	return secureType(o)
}

// securityScansType applies CountSecurityScansMetric's scan_type: one of
// Security::Scan's scan types but cluster_image_scanning.
func securityScansType(o map[string]any) (map[string]any, error) {
	t := str(o, "scan_type")
	n, ok := ScanTypes[t]
	if !ok || t == "cluster_image_scanning" {
		return nil, fmt.Errorf("scan_type %q must be one of sast, dependency_scanning, container_scanning, dast, secret_detection, coverage_fuzzing, api_fuzzing", t)
	}
	o = maps.Clone(o)
	o["where"] = fmt.Sprintf("scan_type = %d", n)
	delete(o, "scan_type")
	return o, nil
}

// scanType applies CountSecurePipelinesMetric's scan_type; the metric also
// keeps its sketch for database-sourced aggregated metrics under
// "<scan_type>_pipeline" (GitLab's save_aggregated_metrics).
func scanType(o map[string]any) (map[string]any, error) {
	o = maps.Clone(o)
	t := str(o, "scan_type")
	n, ok := ScanTypes[t]
	if !ok {
		return nil, fmt.Errorf("scan_type %q must be one of sast, dependency_scanning, container_scanning, dast, secret_detection, coverage_fuzzing, api_fuzzing, cluster_image_scanning", t)
	}
	o["where"] = fmt.Sprintf("scan_type = %d", n)
	o["save_as"] = t + "_pipeline"
	delete(o, "scan_type")
	return o, nil
}
