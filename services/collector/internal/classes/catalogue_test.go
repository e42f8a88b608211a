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
