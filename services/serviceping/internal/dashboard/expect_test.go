package dashboard_test

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/services/serviceping/internal/dashboard"
)

// The figures every endpoint must answer for the fleet, computed here from
// the fleet's CSV files and the metric dictionary by the rules
// dbt/README.md states — not read from the marts.

// fleetPing is a row of pings.csv with its metrics (ping_metrics.csv).
type fleetPing struct {
	name, uuid, hostname, version, edition, subscription, account string
	recorded                                                      time.Time
	activeUsers                                                   int64
	seats                                                         *int64
	metrics                                                       map[string]float64 // k1…k5 the ping carries
}

func (p fleetPing) installation() string { return p.uuid + "|" + p.hostname }

// tier is GitLab's product tier (the fleet has no expired license).
func (p fleetPing) tier() string {
	switch p.edition {
	case "CE", "EE Free":
		return "Free"
	case "EE", "EES":
		return "Starter"
	case "EEP":
		return "Premium"
	case "EEU":
		return "Ultimate"
	}
	return "Unknown"
}

func (p fleetPing) weight() float64 {
	if p.seats != nil && *p.seats > 0 {
		return float64(*p.seats)
	}
	return 1
}

// fleetKeys are the key paths of ping_metrics.csv's columns (fleet.sql).
var fleetKeys = map[string]string{
	"k1": "usage_activity_by_stage_monthly.create.action_monthly_active_users_project_repo",
	"k2": "usage_activity_by_stage_monthly.manage.events",
	"k3": "counts.issues",
	"k4": "analytics_unique_visits.i_analytics_dev_ops_score",
	"k5": "counts.fleet_widgets",
}

func readCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, name := range recs[0] {
			m[name] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func fleetCSV(t *testing.T, name string) []map[string]string {
	return readCSV(t, filepath.Join(fleetDir(), name))
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.DateTime, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UTC()
}

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func loadFleet(t *testing.T) []fleetPing {
	t.Helper()
	metrics := map[string]map[string]float64{}
	for _, r := range fleetCSV(t, "ping_metrics.csv") {
		m := map[string]float64{}
		for col := range fleetKeys {
			if r[col] != "" {
				m[col] = parseFloat(t, r[col])
			}
		}
		metrics[r["ping"]] = m
	}
	var pings []fleetPing
	for _, r := range fleetCSV(t, "pings.csv") {
		p := fleetPing{name: r["ping"], uuid: r["uuid"], hostname: r["hostname"], version: r["version"], edition: r["edition"],
			subscription: r["subscription_id"], account: r["account_id"], recorded: parseTime(t, r["recorded_at"]), metrics: metrics[r["ping"]]}
		p.activeUsers = int64(parseFloat(t, r["active_user_count"]))
		if r["seats"] != "" {
			s := int64(parseFloat(t, r["seats"]))
			p.seats = &s
		}
		pings = append(pings, p)
	}
	if len(pings) == 0 {
		t.Fatal("the fleet has no pings")
	}
	return pings
}

func monday(t time.Time) time.Time {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
}

func monthOf(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC) }

func date(t time.Time) string { return t.Format(time.DateOnly) }

// lastPings are the installations' last pings of each period (by period
// start), as dim_ping_instance's is_last_ping_of_week / _month.
func lastPings(pings []fleetPing, period func(time.Time) time.Time) map[time.Time][]fleetPing {
	last := map[time.Time]map[string]fleetPing{}
	for _, p := range pings {
		k := period(p.recorded)
		if last[k] == nil {
			last[k] = map[string]fleetPing{}
		}
		if have, ok := last[k][p.installation()]; !ok || p.recorded.After(have.recorded) {
			last[k][p.installation()] = p
		}
	}
	out := map[time.Time][]fleetPing{}
	for k, m := range last {
		out[k] = slices.Collect(maps.Values(m))
	}
	return out
}

func expectAdoption(t *testing.T, pings []fleetPing) dashboard.Adoption {
	a := dashboard.Adoption{}
	perWeek := map[time.Time]uint64{}
	for _, p := range pings {
		perWeek[monday(p.recorded)]++
	}
	last := lastPings(pings, monday)
	for _, w := range slices.SortedFunc(maps.Keys(last), time.Time.Compare) {
		week := dashboard.AdoptionWeek{Week: date(w), Pings: perWeek[w]}
		versions, editions := map[string]uint64{}, map[string]uint64{}
		for _, p := range last[w] {
			week.Instances++
			week.ActiveUsers += p.activeUsers
			v := strings.Split(p.version, ".")
			versions[v[0]+"."+v[1]]++
			editions[p.edition]++
		}
		a.Weeks = append(a.Weeks, week)
		for _, k := range slices.SortedFunc(maps.Keys(versions), compareVersions) {
			a.Versions = append(a.Versions, dashboard.WeekCount{Week: date(w), Key: k, Instances: versions[k]})
		}
		for _, k := range slices.Sorted(maps.Keys(editions)) {
			a.Editions = append(a.Editions, dashboard.WeekCount{Week: date(w), Key: k, Instances: editions[k]})
		}
	}
	return a
}

// compareVersions orders dotted versions numerically.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range min(len(as), len(bs)) {
		x, _ := strconv.Atoi(as[i])
		y, _ := strconv.Atoi(bs[i])
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}

// dictEntry is a metric's entry in dbt/seeds/dim_ping_metric.csv.
type dictEntry struct {
	timeFrame, stage, group string
	kinds                   []string
}

func loadDictionary(t *testing.T) map[string]dictEntry {
	dict := map[string]dictEntry{}
	for _, r := range readCSV(t, filepath.Join(repoRoot(), "dbt", "seeds", "dim_ping_metric.csv")) {
		e := dictEntry{timeFrame: r["time_frame"], stage: r["product_stage"], group: r["product_group"]}
		for _, k := range []string{"smau", "gmau", "paid_gmau", "umau"} {
			if r["is_"+k] == "true" {
				e.kinds = append(e.kinds, k)
			}
		}
		dict[r["key_path"]] = e
	}
	return dict
}

func expectStages(t *testing.T, pings []fleetPing) dashboard.Stages {
	dict := loadDictionary(t)
	s := dashboard.Stages{}
	last := lastPings(pings, monthOf)
	for _, m := range slices.SortedFunc(maps.Keys(last), time.Time.Compare) {
		// Known: installations that pinged in the 90 days before the
		// month's end, with the attributes of their latest such ping.
		next := m.AddDate(0, 1, 0)
		known := map[string]fleetPing{}
		for _, p := range pings {
			d := time.Date(p.recorded.Year(), p.recorded.Month(), p.recorded.Day(), 0, 0, 0, 0, time.UTC)
			if d.Before(next.AddDate(0, 0, -90)) || !p.recorded.Before(next) {
				continue
			}
			if have, ok := known[p.installation()]; !ok || p.recorded.After(have.recorded) {
				known[p.installation()] = p
			}
		}
		paid := func(p fleetPing) bool { return slices.Contains([]string{"Starter", "Premium", "Ultimate"}, p.tier()) }
		var rows []dashboard.XMAUMonth
		for _, col := range slices.Sorted(maps.Keys(fleetKeys)) {
			key := fleetKeys[col]
			e, ok := dict[key]
			if !ok || e.timeFrame != "28d" {
				continue
			}
			for _, kind := range e.kinds {
				r := dashboard.XMAUMonth{Month: date(m), Kind: kind, KeyPath: key}
				switch kind {
				case "umau":
					r.Label = "instance"
				case "smau":
					r.Label = e.stage
				default:
					r.Label = e.group
				}
				var reportingWeight, knownWeight float64
				for _, k := range known {
					if kind != "paid_gmau" || paid(k) {
						r.KnownInstances++
						knownWeight += k.weight()
					}
				}
				for _, p := range last[m] {
					v, ok := p.metrics[col]
					k := known[p.installation()]
					if !ok || v < 0 || (kind == "paid_gmau" && !paid(k)) {
						continue
					}
					r.RecordedUsage += v
					r.ReportingInstances++
					reportingWeight += k.weight()
				}
				if r.ReportingInstances == 0 {
					continue
				}
				r.PctReporting = reportingWeight / knownWeight
				r.EstimatedUsage = r.RecordedUsage / r.PctReporting
				rows = append(rows, r)
			}
		}
		slices.SortFunc(rows, func(a, b dashboard.XMAUMonth) int {
			return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.KeyPath, b.KeyPath))
		})
		s.Rows = append(s.Rows, rows...)
	}
	if len(s.Rows) > 0 {
		s.Latest = s.Rows[len(s.Rows)-1].Month
	}
	return s
}

// fleetScore is a row of devops_scores.csv that FINAL keeps.
type fleetScore struct {
	ping, uuid  string
	recorded    time.Time
	percentages []float64
}

func (s fleetScore) overall() float64 {
	var sum float64
	for _, p := range s.percentages {
		sum += p
	}
	return sum / float64(len(s.percentages))
}

// fleetLeaders are the leaders' values of the ten features fleet.sql
// gives every score (instance = leader × percentage / 100).
var fleetLeaders = []float64{10, 20, 2, 4, 8, 16, 5, 5, 1, 2}

// latestScores are, per uuid, the latest month's last score (the
// highest _version of a ping wins), and that month.
func latestScores(t *testing.T) (map[string]fleetScore, time.Time) {
	type key struct{ ping, uuid string }
	final, version := map[key]fleetScore{}, map[key]float64{}
	for _, r := range fleetCSV(t, "devops_scores.csv") {
		k := key{r["ping"], r["uuid"]}
		v := parseFloat(t, r["_version"])
		if have, ok := version[k]; ok && have >= v {
			continue
		}
		s := fleetScore{ping: r["ping"], uuid: r["uuid"], recorded: parseTime(t, r["recorded_at"])}
		for _, f := range dashboard.Features() {
			s.percentages = append(s.percentages, parseFloat(t, r[f]))
		}
		final[k], version[k] = s, v
	}
	var month time.Time
	for _, s := range final {
		if m := monthOf(s.recorded); m.After(month) {
			month = m
		}
	}
	latest := map[string]fleetScore{}
	for _, s := range final {
		if !monthOf(s.recorded).Equal(month) {
			continue
		}
		if have, ok := latest[s.uuid]; !ok || s.recorded.After(have.recorded) {
			latest[s.uuid] = s
		}
	}
	return latest, month
}

func expectDevOpsScore(t *testing.T, pings []fleetPing) (dashboard.DevOpsScore, map[string]dashboard.InstanceScore) {
	latest, month := latestScores(t)
	host := map[string]string{} // ping → hostname, for the pings in the warehouse
	for _, p := range pings {
		host[p.uuid+p.recorded.String()] = p.hostname
	}
	s := dashboard.DevOpsScore{Month: date(month), Distribution: make([]dashboard.ScoreBand, 10)}
	for i := range s.Distribution {
		s.Distribution[i].From = 10 * i
	}
	instances := map[string]dashboard.InstanceScore{}
	for uuid, sc := range latest {
		s.Distribution[min(int(sc.overall()/10), 9)].Instances++
		h := host[uuid+sc.recorded.String()]
		s.Leaders = append(s.Leaders, dashboard.ScoredInstance{UUID: uuid, Hostname: h, OverallScore: sc.overall()})
		is := dashboard.InstanceScore{UUID: uuid, Hostname: h, Month: date(month), OverallScore: sc.overall()}
		for i, f := range dashboard.Features() {
			is.Features = append(is.Features, dashboard.Feature{Feature: f, Leader: fleetLeaders[i],
				Instance: fleetLeaders[i] * sc.percentages[i] / 100, Percentage: sc.percentages[i]})
		}
		instances[uuid] = is
	}
	slices.SortFunc(s.Leaders, func(a, b dashboard.ScoredInstance) int {
		return cmp.Or(cmp.Compare(b.OverallScore, a.OverallScore), cmp.Compare(a.UUID, b.UUID))
	})
	return s, instances
}

func expectLicenses(pings []fleetPing) dashboard.Licenses {
	type sub struct{ account, id string }
	latest := map[sub]map[string]fleetPing{} // installation's latest ping
	for _, p := range pings {
		if p.subscription == "" {
			continue
		}
		k := sub{p.account, p.subscription}
		if latest[k] == nil {
			latest[k] = map[string]fleetPing{}
		}
		if have, ok := latest[k][p.installation()]; !ok || p.recorded.After(have.recorded) {
			latest[k][p.installation()] = p
		}
	}
	l := dashboard.Licenses{}
	for _, k := range slices.SortedFunc(maps.Keys(latest), func(a, b sub) int {
		return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.id, b.id))
	}) {
		s := dashboard.Subscription{AccountID: k.account, SubscriptionID: k.id}
		var newest fleetPing
		for _, p := range latest[k] {
			s.Installations++
			s.ActiveUsers += p.activeUsers
			if p.recorded.After(newest.recorded) {
				newest = p
			}
		}
		s.ProductTier, s.Seats = newest.tier(), newest.seats
		s.LastPingAt = newest.recorded.Format("2006-01-02T15:04:05Z")
		if s.Seats != nil && *s.Seats > 0 {
			u := float64(s.ActiveUsers) / float64(*s.Seats)
			s.Utilization = &u
		}
		l.Subscriptions = append(l.Subscriptions, s)
	}
	return l
}

// daysSince is days_since_last_ping for a build on day (YYYY-MM-DD).
func daysSince(t *testing.T, lastPingAt, day string) int64 {
	last, err := time.Parse(time.RFC3339, lastPingAt)
	if err != nil {
		t.Fatal(err)
	}
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		t.Fatal(err)
	}
	return int64(d.Sub(monthDay(last)).Hours() / 24)
}

func monthDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func expectHealth(t *testing.T, pings []fleetPing) dashboard.Health {
	h := dashboard.Health{}
	perDay := map[string]uint64{}
	versions := map[string]*dashboard.VersionHealth{}
	for _, p := range pings {
		perDay[date(p.recorded.Add(time.Hour))]++ // received an hour after (fleet.sql)
		v := versions[p.version]
		if v == nil {
			v = &dashboard.VersionHealth{Version: p.version}
			versions[p.version] = v
		}
		v.Pings++
		for _, x := range p.metrics {
			v.MetricValues++
			switch x {
			case -1:
				v.Timeout++
			case -2:
				v.Redis++
			case -3:
				v.SQL++
			case -1000:
				v.Deprecated++
			}
		}
	}
	for _, d := range slices.Sorted(maps.Keys(perDay)) {
		h.Received = append(h.Received, dashboard.DayCount{Day: d, Pings: perDay[d]})
	}
	reports := map[string]string{} // report_id → version (r1 twice: FINAL keeps one)
	for _, r := range fleetCSV(t, "ping_errors.csv") {
		reports[r["report_id"]] = r["version"]
	}
	for _, v := range reports {
		if vh := versions[v]; vh != nil {
			vh.ErrorReports++
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(versions), func(a, b string) int { return compareVersions(b, a) }) {
		v := versions[k]
		v.FallbackRate = float64(v.Timeout+v.Redis+v.SQL+v.Deprecated) / float64(v.MetricValues)
		h.Fallbacks = append(h.Fallbacks, *v)
	}
	return h
}

// show prints a value for a failure message.
func show(v any) string { return fmt.Sprintf("%+v", v) }
