// Package definitionstest holds metric definition documents for the tests
// of the packages that load them: a minimal one in GitLab's current format,
// a 2021-vintage one in the legacy format, and Edit to derive cases.
package definitionstest

import "strings"

// Modern is a minimal definition that satisfies GitLab's current schema;
// cases replace its lines with Edit.
const Modern = `key_path: counts.x
description: d
product_group: analytics_instrumentation
product_categories: [service_ping]
value_type: number
status: active
milestone: '16.6'
introduced_by_url: https://example.com/1
time_frame: all
data_source: database
data_category: optional
tiers: [free, premium, ultimate]
instrumentation_class: CountXMetric
`

// Legacy is a 2021-vintage definition (tier, distribution, product_section)
// that GitLab's legacy schema accepts.
const Legacy = `key_path: usage_activity_by_stage_monthly.create.action_monthly_active_users_project_repo
description: d
product_section: dev
product_stage: create
product_group: group::source code
value_type: number
status: data_available
time_frame: 28d
data_source: redis_hll
data_category: Operational
instrumentation_class: RedisHLLMetric
distribution: [ce, ee]
tier: [free, starter, gold]
performance_indicator_type: [smau, gmau, paid_gmau, customer_health_score]
milestone: "<13.9"
`

// Edit returns doc with each old text replaced by its new one, given as
// pairs (old, new, old, new...).
func Edit(doc string, oldNew ...string) string {
	return strings.NewReplacer(oldNew...).Replace(doc)
}
