package classes

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/serviceping/serviceping/services/collector/internal/definitions"
)

// TestResolve checks the order of resolution on the built-in table under
// a file's mapping: named classes, class families, options rewritten by
// the class, legacy key paths and families only for definitions without a
// class, the file's entries first, unknown classes reported.
func TestResolve(t *testing.T) {
	t.Parallel()
	file := &definitions.Mapping{
		Classes:  map[string]definitions.MappingEntry{"CountIssuesMetric": {Source: SourceDatabase, Options: map[string]any{"table": "work_items"}}},
		KeyPaths: map[string]definitions.MappingEntry{"counts.custom": {Source: SourceFact, Options: map[string]any{"attribute": "version"}}},
		Fallback: Builtin(),
	}
	for _, c := range []struct {
		name   string
		m      definitions.Metric
		source string
		opts   map[string]any // each must be among the resolved options
		err    error
	}{
		{"a file's class wins", definitions.Metric{InstrumentationClass: "CountIssuesMetric", DataSource: "database"},
			SourceDatabase, map[string]any{"table": "work_items"}, nil},
		{"class option rewritten", definitions.Metric{InstrumentationClass: "CountDeploymentsMetric", Options: map[string]any{"type": "failed"}},
			SourceDatabase, map[string]any{"table": "deployments", "where": "status = 3"}, nil},
		{"bad class option", definitions.Metric{InstrumentationClass: "CountDeploymentsMetric", Options: map[string]any{"type": "sometimes"}},
			SourceDatabase, nil, errors.New("invalid deployment type")},
		{"count family", definitions.Metric{InstrumentationClass: "CountCiRunnersMetric"},
			SourceDatabase, map[string]any{"operation": "count", "table": "ci_runners"}, nil},
		{"count family applies a batch size", definitions.Metric{InstrumentationClass: "CountCiRunnersMetric", Options: map[string]any{"batch_size": 7}},
			SourceDatabase, map[string]any{"table": "ci_runners", "batch_size": 7}, nil},
		{"count family does not ignore an option it does not apply", definitions.Metric{InstrumentationClass: "CountMlModelsMetric",
			Options: map[string]any{"batch_size": 7, "model_type": "onnx"}}, SourceDatabase, nil, errors.New("option model_type=onnx")},
		{"owners family neither", definitions.Metric{InstrumentationClass: "CountProjectsWithMlExperimentsMetric", Options: map[string]any{"state": "active"}},
			SourceDatabase, nil, definitions.ErrUnappliedOption},
		{"setting family neither", definitions.Metric{InstrumentationClass: "AkismetEnabledMetric", Options: map[string]any{"scope": "group"}},
			SourceSetting, nil, definitions.ErrUnappliedOption},
		{"security scans by scan type", definitions.Metric{InstrumentationClass: "CountSecurityScansMetric", Options: map[string]any{"scan_type": "coverage_fuzzing"}},
			SourceDatabase, map[string]any{"table": "security_scans", "column": "build_id", "where": "scan_type = 6"}, nil},
		{"security scans: no cluster image scanning", definitions.Metric{InstrumentationClass: "CountSecurityScansMetric",
			Options: map[string]any{"scan_type": "cluster_image_scanning"}}, SourceDatabase, nil, errors.New("scan_type")},
		{"CI builds by scanner", definitions.Metric{InstrumentationClass: "CountCiBuildsMetric", Options: map[string]any{"secure_type": "dast"}},
			SourceDatabase, map[string]any{"table": "ci_builds", "where": "type = 'Ci::Build' AND name = 'dast'"}, nil},
		{"CI builds: no all", definitions.Metric{InstrumentationClass: "CountCiBuildsMetric", Options: map[string]any{"secure_type": "all"}},
			SourceDatabase, nil, errors.New(`secure_type "all" is not allowed`)},
		{"owners family", definitions.Metric{InstrumentationClass: "CountProjectsWithMlExperimentsMetric"},
			SourceDatabase, map[string]any{"operation": "distinct_count", "column": "project_id", "table": "ml_experiments"}, nil},
		{"enabled family", definitions.Metric{InstrumentationClass: "AkismetEnabledMetric"},
			SourceSetting, map[string]any{"setting": "akismet_enabled"}, nil},
		{"enabled family asks for the key path's names", definitions.Metric{KeyPath: "deactivate_dormant_users_enabled", InstrumentationClass: "DormantUserSettingEnabledMetric"},
			SourceSetting, map[string]any{"setting": "dormant_user_setting_enabled", "key_path_candidates": true}, nil},
		{"expiration enabled family falls back on the interval", definitions.Metric{InstrumentationClass: "GroupRunnerTokenExpirationEnabledMetric"},
			SourceSetting, map[string]any{"setting": "group_runner_token_expiration_enabled", "interval": "group_runner_token_expiration_interval"}, nil},
		{"encrypted secrets family", definitions.Metric{InstrumentationClass: "IncomingEmailEncryptedSecretsEnabledMetric"},
			SourceFact, map[string]any{"attribute": "encrypted_secrets", "secrets": "incoming_email"}, nil},
		{"encrypted secrets family without Enabled", definitions.Metric{InstrumentationClass: "LdapEncryptedSecretsMetric"},
			SourceFact, map[string]any{"attribute": "encrypted_secrets", "secrets": "ldap"}, nil},
		{"feature flag family", definitions.Metric{KeyPath: "settings.certificate_based_clusters_ff", InstrumentationClass: "CertBasedClustersFfMetric"},
			SourceFact, map[string]any{"attribute": "feature_flag"}, nil},
		{"advanced search version field family", definitions.Metric{InstrumentationClass: "AdvancedSearch::LuceneVersionMetric"},
			SourceFact, map[string]any{"attribute": "search_version", "field": "lucene_version"}, nil},
		{"legacy key path", definitions.Metric{KeyPath: "counts.ci_runners", DataSource: "database", TimeFrame: "all"},
			SourceDatabase, map[string]any{"table": "ci_runners"}, nil},
		{"legacy key path with a time frame", definitions.Metric{KeyPath: "usage_activity_by_stage_monthly.manage.events", DataSource: "database", TimeFrame: "28d"},
			SourceDatabase, map[string]any{"table": "events", "column": "author_id"}, nil},
		{"key path family fills its placeholders", definitions.Metric{KeyPath: "object_store.lfs.object_store.provider", DataSource: "system"},
			SourceConfig, map[string]any{"path": "lfs.object_store.connection.provider"}, nil},
		{"system switch family", definitions.Metric{KeyPath: "usage_activity_by_stage.manage.ldap_group_sync_enabled", DataSource: "system"},
			SourceFact, map[string]any{"attribute": "config_switch", "name": "ldap_group_sync"}, nil},
		{"unique visits family: the week whatever the file says", definitions.Metric{KeyPath: "analytics_unique_visits.i_analytics_cohorts", TimeFrame: "all"},
			SourceRedisHLL, map[string]any{"events": []any{"i_analytics_cohorts"}, "time_frame": "7d"}, nil},
		{"advanced search family: a setting, not a version field", definitions.Metric{InstrumentationClass: "AdvancedSearch::LimitedIndexingMetric"},
			SourceFact, map[string]any{"setting": "elasticsearch_limit_indexing"}, nil},
		{"HLL family", definitions.Metric{KeyPath: "redis_hll_counters.search.i_search_paid_weekly", DataSource: "redis_hll", TimeFrame: "7d"},
			SourceRedisHLL, map[string]any{"events": []any{"i_search_paid"}}, nil},
		{"a file's key path", definitions.Metric{KeyPath: "counts.custom", DataSource: "database"},
			SourceFact, map[string]any{"attribute": "version"}, nil},
		{"legacy key paths do not override a class", definitions.Metric{KeyPath: "counts.ci_runners", InstrumentationClass: "CountBoardsMetric"},
			SourceDatabase, map[string]any{"table": "boards"}, nil},
		{"unknown class", definitions.Metric{KeyPath: "counts.x", InstrumentationClass: "NoSuchThingMetricClass", DataSource: "database"},
			"database", nil, definitions.ErrUnknownClass},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := file.Resolve(c.m)
			if c.err != nil {
				if r.Err == nil || (!errors.Is(r.Err, c.err) && !strings.Contains(r.Err.Error(), c.err.Error())) {
					t.Fatalf("err %v, want %v", r.Err, c.err)
				}
				return
			}
			if r.Err != nil {
				t.Fatalf("err %v", r.Err)
			}
			if r.Source != c.source {
				t.Errorf("source %q, want %q", r.Source, c.source)
			}
			for k, v := range c.opts {
				if fmt.Sprint(r.Options[k]) != fmt.Sprint(v) {
					t.Errorf("option %s = %v, want %v (all: %v)", k, r.Options[k], v, r.Options)
				}
			}
		})
	}
}

// TestSettingByName checks the matching of setting class names to
// application_settings columns: GitLab's classes whose setting is named in
// other words, and names that must not match (a more specific setting than
// a column, words no column has, several columns alike).
func TestSettingByName(t *testing.T) {
	t.Parallel()
	names := applicationSettingNames()
	for name, want := range map[string]string{
		"numbers_password_complexity_required":            "password_number_required",
		"lower_case_letters_password_complexity_required": "password_lowercase_required",
		"upper_case_letters_password_complexity_required": "password_uppercase_required",
		"symbols_password_complexity_required":            "password_symbol_required",
		"maximum_ssh_keys_lifetime_enabled":               "max_ssh_key_lifetime",
		"member_management_enabled":                       "enable_member_promotion_management",
		"spamcheck_enabled":                               "spam_check_endpoint_enabled",
		"container_registry_db_enabled":                   "container_registry_db_enabled",
		"elasticsearch_limited_indexing":                  "elasticsearch_limit_indexing",        // not elasticsearch_indexed_*_limit
		"gitlab_environment_toolkit":                      "gitlab_environment_toolkit_instance", // a jsonb_accessor setting
		"block_seat_overage_enabled":                      "seat_control_block_overages",         // the model's predicate
		// No match.
		"duo_core_features_enabled":                "",
		"snowplow_configured_to_gitlab_collector":  "",
		"installation_creation_date_approximation": "",
		"password_required":                        "", // four columns alike
	} {
		got, ok := names.byName(name)
		if ok != (want != "") || got.column != want {
			t.Errorf("%s → %q (%v), want %q", name, got.column, ok, want)
		}
	}
}

// TestSettingClass resolves classes no name or family knows by the setting
// their name means; a non-boolean setting of an *Enabled* class answers
// whether it is set; a class whose name means no setting stays unknown.
func TestSettingClass(t *testing.T) {
	t.Parallel()
	b := Builtin()
	r := b.Resolve(definitions.Metric{KeyPath: "settings.numbers_password_complexity_required", InstrumentationClass: "NumbersPasswordComplexityRequiredMetric"})
	if r.Err != nil || r.Source != SourceSetting || r.Options["setting"] != "password_number_required" || r.Options["test"] != nil {
		t.Errorf("password class: %+v %v", r.Options, r.Err)
	}
	r = b.Resolve(definitions.Metric{KeyPath: "settings.maximum_ssh_key_lifetime", InstrumentationClass: "MaximumSshKeysLifetimeEnabledMetric"})
	if r.Err != nil || r.Options["matched_setting"] != "max_ssh_key_lifetime" || r.Options["matched_test"] != "present" {
		t.Errorf("enabled family with a matched non-boolean setting: %+v %v", r.Options, r.Err)
	}
	r = b.Resolve(definitions.Metric{KeyPath: "settings.x", InstrumentationClass: "InstallationCreationDateApproximationMetric"})
	if !errors.Is(r.Err, definitions.ErrUnknownClass) || r.UnknownClass != "InstallationCreationDateApproximationMetric" {
		t.Errorf("a class whose name means no setting: %v", r.Err)
	}
}
