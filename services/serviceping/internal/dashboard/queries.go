package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// The JSON answers of the endpoints (docs/dashboard.md). Weeks and months
// are dates, YYYY-MM-DD (a Monday; the first of the month).

// Adoption is /api/adoption, from mart_version_adoption and
// dim_ping_instance.
type Adoption struct {
	Weeks    []AdoptionWeek `json:"weeks"`
	Versions []WeekCount    `json:"versions"`
	Editions []WeekCount    `json:"editions"`
}

// AdoptionWeek is one ISO week: installations whose last ping of the week
// is in the warehouse, their active users (the sum of their
// active_user_count), and every ping received for the week.
type AdoptionWeek struct {
	Week        string `json:"week" ch:"week"`
	Instances   uint64 `json:"instances" ch:"instances"`
	ActiveUsers int64  `json:"active_users" ch:"active_users"`
	Pings       uint64 `json:"pings" ch:"pings"`
}

// WeekCount is the installations of a week that ran a major.minor version
// (Versions) or an edition (Editions).
type WeekCount struct {
	Week      string `json:"week" ch:"week"`
	Key       string `json:"key" ch:"key"`
	Instances uint64 `json:"instances" ch:"instances"`
}

func (d *Dashboard) adoption(ctx context.Context, _ *http.Request) (any, error) {
	if err := d.need(ctx, "mart_version_adoption", "dim_ping_instance"); err != nil {
		return nil, err
	}
	var a Adoption
	err := d.selectInto(ctx, &a.Weeks, `
		SELECT toString(v.ping_week) AS week, v.instances AS instances, v.active_users AS active_users, p.pings AS pings
		FROM (SELECT ping_week, toUInt64(sum(instances)) AS instances, toInt64(sum(active_users)) AS active_users
		      FROM {db}.mart_version_adoption GROUP BY ping_week) AS v
		INNER JOIN (SELECT ping_week, count() AS pings FROM {db}.dim_ping_instance GROUP BY ping_week) AS p
		    ON p.ping_week = v.ping_week
		ORDER BY v.ping_week`)
	if err == nil {
		err = d.selectInto(ctx, &a.Versions, `
			SELECT toString(ping_week) AS week, major_minor_version AS key, toUInt64(sum(instances)) AS instances
			FROM {db}.mart_version_adoption GROUP BY ping_week, major_minor_version, major_version, minor_version
			ORDER BY ping_week, major_version, minor_version`)
	}
	if err == nil {
		err = d.selectInto(ctx, &a.Editions, `
			SELECT toString(ping_week) AS week, edition AS key, toUInt64(sum(instances)) AS instances
			FROM {db}.mart_version_adoption GROUP BY ping_week, edition ORDER BY ping_week, edition`)
	}
	return a, err
}

// Stages is /api/stages: every row of mart_xmau_monthly.
type Stages struct {
	// Latest is the latest month with rows ("" without any).
	Latest string      `json:"latest"`
	Rows   []XMAUMonth `json:"rows"`
}

// XMAUMonth is one month × xMAU kind × metric. Label is the stage (smau),
// the group (gmau, paid_gmau) or "instance" (umau) the metric measures.
type XMAUMonth struct {
	Month              string  `json:"month" ch:"month"`
	Kind               string  `json:"xmau_kind" ch:"xmau_kind"`
	KeyPath            string  `json:"key_path" ch:"key_path"`
	Label              string  `json:"label" ch:"label"`
	RecordedUsage      float64 `json:"recorded_usage" ch:"recorded_usage"`
	EstimatedUsage     float64 `json:"estimated_usage" ch:"estimated_usage"`
	ReportingInstances uint64  `json:"reporting_instances" ch:"reporting_instances"`
	KnownInstances     uint64  `json:"known_instances" ch:"known_instances"`
	PctReporting       float64 `json:"pct_reporting" ch:"pct_reporting"`
}

func (d *Dashboard) stages(ctx context.Context, _ *http.Request) (any, error) {
	if err := d.need(ctx, "mart_xmau_monthly"); err != nil {
		return nil, err
	}
	s := Stages{Rows: []XMAUMonth{}}
	err := d.selectInto(ctx, &s.Rows, `
		SELECT toString(month) AS month, xmau_kind, key_path,
		    multiIf(xmau_kind = 'umau', 'instance', xmau_kind = 'smau', product_stage, product_group) AS label,
		    toFloat64(recorded_usage) AS recorded_usage, toFloat64(estimated_usage) AS estimated_usage,
		    toUInt64(reporting_instances) AS reporting_instances, toUInt64(known_instances) AS known_instances,
		    toFloat64(pct_reporting) AS pct_reporting
		FROM {db}.mart_xmau_monthly ORDER BY month, xmau_kind, key_path`)
	if len(s.Rows) > 0 {
		s.Latest = s.Rows[len(s.Rows)-1].Month
	}
	return s, err
}

// DevOpsScore is /api/devops-score: the latest month of mart_devops_score.
type DevOpsScore struct {
	Month string `json:"month"`
	// Distribution counts the instances by overall score in ten bands:
	// [0, 10), [10, 20) … [90, 100].
	Distribution []ScoreBand `json:"distribution"`
	// Leaders are the ten instances with the highest overall score.
	Leaders []ScoredInstance `json:"leaders"`
}

// ScoreBand is the instances whose overall score is in [From, From+10)
// (the last band holds 100).
type ScoreBand struct {
	From      int    `json:"from"`
	Instances uint64 `json:"instances"`
}

// ScoredInstance is one instance's overall score.
type ScoredInstance struct {
	UUID         string  `json:"uuid" ch:"uuid"`
	Hostname     string  `json:"hostname" ch:"hostname"`
	OverallScore float64 `json:"overall_score" ch:"overall_score"`
}

func (d *Dashboard) devopsScore(ctx context.Context, _ *http.Request) (any, error) {
	if err := d.need(ctx, "mart_devops_score"); err != nil {
		return nil, err
	}
	s := DevOpsScore{Leaders: []ScoredInstance{}, Distribution: make([]ScoreBand, 10)}
	for i := range s.Distribution {
		s.Distribution[i].From = 10 * i
	}
	var bands []struct {
		Band      uint8  `ch:"band"`
		Instances uint64 `ch:"instances"`
	}
	err := d.selectInto(ctx, &bands, `
		SELECT toUInt8(least(floor(overall_score / 10), 9)) AS band, count() AS instances
		FROM {db}.mart_devops_score
		WHERE score_month = (SELECT max(score_month) FROM {db}.mart_devops_score)
		GROUP BY band`)
	for _, b := range bands {
		s.Distribution[b.Band].Instances = b.Instances
	}
	if err == nil {
		err = d.selectInto(ctx, &s.Leaders, `
			SELECT uuid, ifNull(hostname, '') AS hostname, overall_score
			FROM {db}.mart_devops_score
			WHERE score_month = (SELECT max(score_month) FROM {db}.mart_devops_score)
			ORDER BY overall_score DESC, uuid LIMIT 10`)
	}
	if err == nil {
		var month []struct {
			Month string `ch:"month"`
		}
		err = d.selectInto(ctx, &month, `SELECT toString(max(score_month)) AS month FROM {db}.mart_devops_score HAVING count() > 0`)
		if len(month) == 1 {
			s.Month = month[0].Month
		}
	}
	return s, err
}

// Features are GitLab's ten DevOps Score features, in its order.
func Features() []string {
	return []string{"issues", "notes", "milestones", "boards", "merge_requests", "ci_pipelines",
		"environments", "deployments", "projects_prometheus_active", "service_desk_issues"}
}

// InstanceScore is /api/devops-score/instance?uuid=U: the instance's row of
// its latest month in mart_devops_score.
type InstanceScore struct {
	UUID         string    `json:"uuid"`
	Hostname     string    `json:"hostname"`
	Month        string    `json:"month"`
	OverallScore float64   `json:"overall_score"`
	Features     []Feature `json:"features"`
}

// Feature is one of the ten: the leaders' usage, the instance's, and the
// instance's as a percentage of the leaders'.
type Feature struct {
	Feature    string  `json:"feature"`
	Leader     float64 `json:"leader"`
	Instance   float64 `json:"instance"`
	Percentage float64 `json:"percentage"`
}

func (d *Dashboard) devopsInstance(ctx context.Context, r *http.Request) (any, error) {
	uuid := r.URL.Query().Get("uuid")
	if uuid == "" {
		return nil, &httpError{http.StatusBadRequest, "uuid is required: /api/devops-score/instance?uuid=…"}
	}
	if err := d.need(ctx, "mart_devops_score"); err != nil {
		return nil, err
	}
	cols := []string{"uuid", "ifNull(hostname, '')", "toString(score_month)", "overall_score"}
	for _, f := range Features() {
		cols = append(cols, "leader_"+f, "instance_"+f, "percentage_"+f)
	}
	q := strings.ReplaceAll(fmt.Sprintf(`SELECT %s FROM {db}.mart_devops_score WHERE uuid = ? ORDER BY score_month DESC LIMIT 1`,
		strings.Join(cols, ", ")), "{db}", d.db())
	row := d.conn.QueryRow(ctx, q, uuid)
	s := InstanceScore{Features: make([]Feature, len(Features()))}
	dest := []any{&s.UUID, &s.Hostname, &s.Month, &s.OverallScore}
	for i, f := range Features() {
		s.Features[i].Feature = f
		dest = append(dest, &s.Features[i].Leader, &s.Features[i].Instance, &s.Features[i].Percentage)
	}
	if err := row.Scan(dest...); err != nil {
		if strings.Contains(err.Error(), "no rows") {
			return nil, &httpError{http.StatusNotFound, "no DevOps Score for uuid " + uuid}
		}
		return nil, fmt.Errorf("read the DevOps Score of %s: %w", uuid, err)
	}
	return s, nil
}

// Licenses is /api/licenses: every row of mart_license_utilization.
type Licenses struct {
	Subscriptions []Subscription `json:"subscriptions"`
}

// Subscription is one account × subscription. Seats and Utilization are
// null when the license states no seats.
type Subscription struct {
	AccountID         string   `json:"account_id" ch:"account_id"`
	SubscriptionID    string   `json:"subscription_id" ch:"subscription_id"`
	ProductTier       string   `json:"product_tier" ch:"product_tier"`
	Installations     uint64   `json:"installations" ch:"installations"`
	ActiveUsers       int64    `json:"active_users" ch:"active_users"`
	Seats             *int64   `json:"seats" ch:"seats"`
	Utilization       *float64 `json:"utilization_ratio" ch:"utilization_ratio"`
	LastPingAt        string   `json:"last_ping_at" ch:"last_ping_at"`
	DaysSinceLastPing int64    `json:"days_since_last_ping" ch:"days_since_last_ping"`
}

func (d *Dashboard) licenses(ctx context.Context, _ *http.Request) (any, error) {
	if err := d.need(ctx, "mart_license_utilization"); err != nil {
		return nil, err
	}
	l := Licenses{Subscriptions: []Subscription{}}
	err := d.selectInto(ctx, &l.Subscriptions, `
		SELECT account_id, subscription_id, product_tier, toUInt64(installations) AS installations,
		    toInt64(active_users) AS active_users, toNullable(toInt64(license_user_count)) AS seats,
		    toNullable(toFloat64(utilization_ratio)) AS utilization_ratio,
		    formatDateTime(last_ping_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS last_ping_at,
		    toInt64(days_since_last_ping) AS days_since_last_ping
		FROM {db}.mart_license_utilization ORDER BY account_id, subscription_id`)
	return l, err
}

// db is the marts database as an identifier.
func (d *Dashboard) db() string {
	return "`" + strings.ReplaceAll(d.cfg.MartsDatabase, "`", "``") + "`"
}

// selectInto runs query, with {db} the marts database, into dest (a
// pointer to a slice of ch-tagged structs).
func (d *Dashboard) selectInto(ctx context.Context, dest any, query string) error {
	if err := d.conn.Select(ctx, dest, strings.ReplaceAll(query, "{db}", d.db())); err != nil {
		return fmt.Errorf("query the marts: %w", err)
	}
	return nil
}

// tableName is a row of system.tables.
type tableName struct {
	Name string `ch:"name"`
}

// need returns errMartsMissing unless every table is in the marts database.
func (d *Dashboard) need(ctx context.Context, tables ...string) error {
	var have []tableName
	if err := d.conn.Select(ctx, &have, "SELECT name FROM system.tables WHERE database = ?", d.cfg.MartsDatabase); err != nil {
		return fmt.Errorf("list the marts: %w", err)
	}
	for _, t := range tables {
		if !slices.Contains(have, tableName{t}) {
			return errMartsMissing
		}
	}
	return nil
}
