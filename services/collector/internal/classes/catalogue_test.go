package classes

import (
	"fmt"
	"testing"

	"github.com/serviceping/serviceping/services/collector/internal/definitions"
)

// TestLegacyQueries checks the reading of GitLab's /usage_data/queries
// answer: counts, distinct counts over a joined table's column, sums, the
// run's monthly range turned into the time column, all-time queries marked
// so, batch_count's start/finish printed as a column read as id, the
// services table written as today's integrations, Ruby objects refused.
func TestLegacyQueries(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		sql  string
		want map[string]any // nil: no entry
	}{
		{`SELECT COUNT("lists"."id") FROM "lists" WHERE "lists"."list_type" = 3`,
			map[string]any{"operation": "count", "table": "lists", "column": "id", "where": `"lists"."list_type" = 3`, "all_time": true}},
		{`SELECT COUNT(DISTINCT "lists"."user_id") FROM "lists" WHERE "lists"."list_type" = 4 AND "lists"."created_at" BETWEEN '2021-01-10 13:25:43.861906' AND '2021-02-07 13:25:43.861993'`,
			map[string]any{"operation": "distinct_count", "column": "user_id", "where": `"lists"."list_type" = 4`, "time_column": "created_at"}},
		{`SELECT COUNT("deployments"."{:start=>1, :finish=>50}") FROM "deployments" WHERE "deployments"."created_at" BETWEEN '2021-01-10 13:25:43.303335' AND '2021-02-07 13:25:43.303411'`,
			map[string]any{"operation": "count", "table": "deployments", "column": "id", "time_column": "created_at", "where": nil}},
		{`SELECT COUNT(DISTINCT "clusters_applications_prometheus"."clusters.user_id") FROM "clusters_applications_prometheus" INNER JOIN "clusters" ON "clusters"."id" = "clusters_applications_prometheus"."cluster_id" WHERE "clusters_applications_prometheus"."created_at" BETWEEN '2021-01-10' AND '2021-02-07' AND "clusters_applications_prometheus"."status" IN (3, 5)`,
			map[string]any{"column": "clusters.user_id", "joins": `INNER JOIN "clusters" ON "clusters"."id" = "clusters_applications_prometheus"."cluster_id"`,
				"where": `"clusters_applications_prometheus"."status" IN (3, 5)`, "time_column": "created_at"}},
		{`SELECT COUNT(DISTINCT "projects"."creator_id") FROM "projects" INNER JOIN "services" ON "services"."project_id" = "projects"."id" AND "services"."type" = 'SlackSlashCommandsService' WHERE "projects"."created_at" BETWEEN '2021-01-10' AND '2021-02-07'`,
			map[string]any{"table": "projects", "joins": `INNER JOIN "integrations" ON "integrations"."project_id" = "projects"."id" AND "integrations"."type_new" = 'Integrations::SlackSlashCommands'`}},
		{`SELECT COUNT("services"."id") FROM "services" WHERE "services"."active" = TRUE AND "services"."instance" = TRUE AND "services"."type" = 'GithubService'`,
			map[string]any{"table": "integrations", "column": "id", "where": `"integrations"."active" = TRUE AND "integrations"."instance" = TRUE AND "integrations"."type_new" = 'Integrations::Github'`}},
		{`SELECT SUM("ci_builds"."duration") FROM "ci_builds"`, map[string]any{"operation": "sum", "column": "duration"}},
		{`SELECT COUNT(DISTINCT "clusters_applications_ingress"."#<struct Arel::Attributes::Attribute relation=#<Arel::Table>") FROM "clusters_applications_ingress"`, nil},
		{`SELECT "ci_builds"."id" FROM "ci_builds"`, nil},
	} {
		o, ok := legacyQuery(c.sql)
		if ok != (c.want != nil) {
			t.Errorf("%s: parsed %v, want %v", c.sql, ok, c.want != nil)
			continue
		}
		for k, v := range c.want {
			if fmt.Sprint(o[k]) != fmt.Sprint(v) {
				t.Errorf("%s:\n option %s = %v, want %v (all: %v)", c.sql, k, o[k], v, o)
			}
		}
	}
}

// TestLegacyQueriesResolve: the embedded answer resolves classless legacy
// definitions the hand-written table does not name (and the hand-written
// entries win); definitions naming a class never resolve by key path.
func TestLegacyQueriesResolve(t *testing.T) {
	t.Parallel()
	entries, err := catalogueEntries(usageDataQueries)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 600 {
		t.Fatalf("only %d queries read from GitLab's answer", len(entries))
	}
	b := &definitions.Mapping{Fallback: Builtin()} // as the collector chains it under its file mapping
	r := b.Resolve(definitions.Metric{KeyPath: "usage_activity_by_stage_monthly.plan.milestone_lists", DataSource: "database", TimeFrame: "28d"})
	if r.Err != nil || r.Source != SourceDatabase || r.Options["table"] != "lists" || r.Options["column"] != "user_id" ||
		r.Options["where"] != `"lists"."list_type" = 4` || r.Options["time_column"] != "created_at" {
		t.Fatalf("milestone_lists resolved to %+v (%v)", r.Options, r.Err)
	}
	if r := b.Resolve(definitions.Metric{KeyPath: "counts.ci_builds", DataSource: "database", TimeFrame: "all"}); r.Options["where"] != "type = 'Ci::Build'" {
		t.Fatalf("the hand-written entry must win: %+v", r.Options)
	}
	if r := b.Resolve(definitions.Metric{KeyPath: "counts.geo_nodes", InstrumentationClass: "NoSuchThingMetricClass"}); r.UnknownClass == "" {
		t.Fatalf("a named class resolved by key path: %+v", r)
	}
}

// TestLegacyAddedQueries: a value usage_data.rb's add() printed as its
// queries run together becomes the sum of them, each over today's schema
// with the run's range made the time frame's window; an includes()'s
// select list after the count is dropped.
func TestLegacyAddedQueries(t *testing.T) {
	t.Parallel()
	entries, err := catalogueEntries([]byte(`{"counts": {
  "template_repositories": "SELECT COUNT(\"projects\".\"id\") FROM \"projects\" WHERE \"projects\".\"namespace_id\" IS NULLSELECT COUNT(\"projects\".\"id\") FROM \"projects\" INNER JOIN namespaces ON projects.namespace_id = namespaces.custom_project_templates_group_id",
  "monthly": "SELECT COUNT(\"snippets\".\"{:start=>1, :finish=>9}\") FROM \"snippets\" WHERE \"snippets\".\"created_at\" BETWEEN '2021-01-10 13:25:43.306149' AND '2021-02-07 13:25:43.306190'SELECT COUNT(DISTINCT \"services\".\"project_id\") FROM \"services\" WHERE \"services\".\"type\" = 'JiraService'",
  "eager": "SELECT COUNT(\"services\".\"{:start=>nil, :finish=>nil}\"), \"services\".\"id\" AS t0_r0, \"jira_tracker_data\".\"id\" AS t1_r0 FROM \"services\" LEFT OUTER JOIN \"jira_tracker_data\" ON \"jira_tracker_data\".\"integration_id\" = \"services\".\"id\" WHERE \"services\".\"type\" = 'JiraService'",
  "subquery": "SELECT COUNT(\"issues\".\"id\") FROM \"issues\" WHERE \"issues\".\"project_id\" IN (SELECT id FROM projects)"}}`))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"counts.template_repositories": `SELECT (SELECT COUNT("projects"."id") FROM "projects" WHERE "projects"."namespace_id" IS NULL) + ` +
			`(SELECT COUNT("projects"."id") FROM "projects" INNER JOIN namespaces ON projects.namespace_id = namespaces.custom_project_templates_group_id)`,
		"counts.monthly": `SELECT (SELECT COUNT("snippets"."id") FROM "snippets" WHERE "snippets"."created_at" BETWEEN {window_start} AND {window_end}) + ` +
			`(SELECT COUNT(DISTINCT "integrations"."project_id") FROM "integrations" WHERE "integrations"."type_new" = 'Integrations::Jira')`,
	} {
		if got := entries[k].Options["query"]; got != want {
			t.Errorf("%s:\n got  %v\n want %s", k, got, want)
		}
	}
	if o := entries["counts.eager"].Options; o["table"] != "integrations" || o["column"] != "id" ||
		o["joins"] != `LEFT OUTER JOIN "jira_tracker_data" ON "jira_tracker_data"."integration_id" = "integrations"."id"` ||
		o["where"] != `"integrations"."type_new" = 'Integrations::Jira'` {
		t.Errorf("eager-loading count read as %v", o)
	}
	if o := entries["counts.subquery"].Options; o["query"] != nil || o["table"] != "issues" {
		t.Errorf("a subquery split the value: %v", o)
	}
}

// TestLegacyCategoryTotals: a legacy category total that lists no events
// counts GitLab's events of the category (known_events/common.yml); one
// that lists its own keeps them; an unknown category is left to the
// instance's registry.
func TestLegacyCategoryTotals(t *testing.T) {
	t.Parallel()
	b := Builtin()
	r := b.Resolve(definitions.Metric{KeyPath: "redis_hll_counters.ide_edit.ide_edit_total_unique_counts_weekly", DataSource: "redis_hll", TimeFrame: "7d"})
	if fmt.Sprint(r.Options["events"]) != "[g_edit_by_web_ide g_edit_by_sfe g_edit_by_sse g_edit_by_snippet_ide]" || r.Source != SourceRedisHLL {
		t.Fatalf("ide_edit total resolved to %s %v", r.Source, r.Options)
	}
	own := b.Resolve(definitions.Metric{KeyPath: "redis_hll_counters.search.search_total_unique_counts_monthly", DataSource: "redis_hll", TimeFrame: "28d",
		Options: map[string]any{"events": []any{"i_search_total"}}})
	if fmt.Sprint(own.Options["events"]) != "[i_search_total]" {
		t.Fatalf("the definition's own events were replaced: %v", own.Options)
	}
	if u := b.Resolve(definitions.Metric{KeyPath: "redis_hll_counters.nosuch.nosuch_total_unique_counts_weekly", DataSource: "redis_hll"}); u.Options["events"] != nil || u.Options["category"] != "nosuch" {
		t.Fatalf("unknown category resolved to %v", u.Options)
	}
}

// TestLegacyEditorCounters: usage_data.rb's editor monthly active users
// read GitLab's EditorUniqueCounter events — one editor's event each, and
// the ide_edit category's for ide_edit.
func TestLegacyEditorCounters(t *testing.T) {
	t.Parallel()
	b := Builtin()
	for editor, want := range map[string]string{
		"ide_edit":            "[g_edit_by_web_ide g_edit_by_sfe g_edit_by_sse g_edit_by_snippet_ide]",
		"web_ide_edit":        "[g_edit_by_web_ide]",
		"sfe_edit":            "[g_edit_by_sfe]",
		"sse_edit":            "[g_edit_by_sse]",
		"snippet_editor_edit": "[g_edit_by_snippet_ide]",
	} {
		r := b.Resolve(definitions.Metric{KeyPath: "usage_activity_by_stage_monthly.create.action_monthly_active_users_" + editor,
			DataSource: "redis_hll", TimeFrame: "28d"})
		if got := fmt.Sprint(r.Options["events"]); got != want || r.Source != SourceRedisHLL {
			t.Errorf("%s resolved to %s %s, want %s", editor, r.Source, got, want)
		}
	}
	if r := b.Resolve(definitions.Metric{KeyPath: "usage_activity_by_stage_monthly.create.action_monthly_active_users_nosuch_edit",
		DataSource: "redis_hll", TimeFrame: "28d"}); r.Options["events"] != nil {
		t.Errorf("an editor GitLab does not count resolved to %v", r.Options)
	}
}
