package dbttest_test

// The models' rules (dbt/README.md) restated in Go, independently of the
// SQL, to compute what the models must hold for the generated fleet.

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serviceping/serviceping/services/loader/rows"
)

// counterRoots is the dbt var counter_roots: first path segments whose
// numeric leaves are all-time counters unless marked 7d/28d.
var counterRoots = []string{"counts", "usage_activity_by_stage", "redis_hll_counters", "sums",
	"analytics_unique_visits", "compliance_unique_visits", "search_unique_visits"}

// dictEntry is what the tests use of a dim_ping_metric row.
type dictEntry struct {
	timeFrame string
	kinds     []string // xMAU kinds: smau, gmau, paid_gmau, umau
}

// timeFrame is the rule of stg_ping_metrics: the dictionary's time frame
// for a key path it defines, the key-path guess otherwise; and which.
func timeFrame(dict map[string]dictEntry, key, valueKind string) (tf, source string) {
	if e, ok := dict[key]; ok {
		return e.timeFrame, "dictionary"
	}
	return guessTimeFrame(key, valueKind), "key_path_guess"
}

// guessTimeFrame is the key-path guess (dbt/README.md, "time_frame").
func guessTimeFrame(key, valueKind string) string {
	switch {
	case valueKind != "number":
		return "none"
	case strings.HasSuffix(key, "_weekly"), strings.HasPrefix(key, "counts_weekly."):
		return "7d"
	case strings.HasSuffix(key, "_monthly"), strings.HasPrefix(key, "counts_monthly."), strings.HasPrefix(key, "usage_activity_by_stage_monthly."):
		return "28d"
	}
	root, _, _ := strings.Cut(key, ".")
	if slices.Contains(counterRoots, root) {
		return "all"
	}
	return "none"
}

// productTier is GitLab's rule: CE, "EE Free" or a license expired before
// the ping → Free; EE/EES → Starter; EEP → Premium; EEU → Ultimate.
func productTier(p rows.Ping) string {
	switch {
	case p.Edition == "CE", p.Edition == "EE Free":
		return "Free"
	case p.LicenseExpiresAt != nil && p.LicenseExpiresAt.Time().Before(p.RecordedAt.UTC().Truncate(24*time.Hour)):
		return "Free"
	case p.Edition == "EE", p.Edition == "EES":
		return "Starter"
	case p.Edition == "EEP":
		return "Premium"
	case p.Edition == "EEU":
		return "Ultimate"
	}
	return "Unknown"
}

func isPaid(tier string) bool { return tier == "Starter" || tier == "Premium" || tier == "Ultimate" }

func installation(p rows.Ping) string { return p.UUID + "|" + p.Hostname }

func monthOf(t time.Time) string { return t.UTC().Format("2006-01") + "-01" }

// mondayOf is the ISO week's Monday of t.
func mondayOf(t time.Time) string {
	d := t.UTC().Truncate(24 * time.Hour)
	return d.AddDate(0, 0, -(int(d.Weekday())+6)%7).Format(time.DateOnly)
}

// later orders pings as the models do: recorded_at, then ping_id.
func later(a, b *rows.Record) bool {
	if !a.Ping.RecordedAt.Equal(b.Ping.RecordedAt) {
		return a.Ping.RecordedAt.After(b.Ping.RecordedAt)
	}
	return a.Ping.PingID > b.Ping.PingID
}

type instPeriod struct{ inst, period string }

// lastPings is the last ping of every installation and period.
func lastPings(recs []rows.Record, period func(time.Time) string) map[instPeriod]*rows.Record {
	last := map[instPeriod]*rows.Record{}
	for i := range recs {
		r := &recs[i]
		k := instPeriod{installation(r.Ping), period(r.Ping.RecordedAt)}
		if cur := last[k]; cur == nil || later(r, cur) {
			last[k] = r
		}
	}
	return last
}

type totalKey struct{ period, key, tier string }

func (a totalKey) compare(b totalKey) int {
	return strings.Compare(a.period+"|"+a.key+"|"+a.tier, b.period+"|"+b.key+"|"+b.tier)
}

type total struct {
	sum       float64
	instances uint64
}

type figures struct {
	tiers        map[string]uint64 // installations per product tier
	timeouts     uint64            // numeric -1 leaves
	totals       map[totalKey]total
	weeklyTotals map[totalKey]total
	clamped      int // all-time installation-months whose difference was negative
	afterTimeout int // all-time installation-months with no previous value because it timed out
}

// expectFigures computes, from the records, what the models must hold.
func expectFigures(recs []rows.Record, dict map[string]dictEntry) figures {
	f := figures{tiers: map[string]uint64{}}
	tierOf := map[string]string{} // installation → tier of its latest ping
	latest := map[string]time.Time{}
	for i := range recs {
		r := &recs[i]
		inst := installation(r.Ping)
		if r.Ping.RecordedAt.After(latest[inst]) {
			latest[inst], tierOf[inst] = r.Ping.RecordedAt, productTier(r.Ping)
		}
		for _, m := range r.AppendMetrics(nil) {
			if m.ValueKind == "number" && m.Value != nil && *m.Value == -1 {
				f.timeouts++
			}
		}
	}
	for _, tier := range tierOf {
		f.tiers[tier]++
	}
	f.totals, f.clamped, f.afterTimeout = periodTotals(lastPings(recs, monthOf), dict, "28d")
	f.weeklyTotals, _, _ = periodTotals(lastPings(recs, mondayOf), dict, "7d")
	return f
}

// periodTotals sums the period values of the counts* metrics of the
// periods' last pings per period × metric × tier (fct_ping_instance_metric_
// monthly / _weekly): numbers that are neither a timeout nor another
// negative fallback, time frame window (28d or 7d) as reported, all-time as
// the difference to the installation's previous kept value, clamped at 0.
// Periods are walked in order so that an all-time metric's previous value
// is known.
func periodTotals(last map[instPeriod]*rows.Record, dict map[string]dictEntry, window string) (totals map[totalKey]total, clamped, afterTimeout int) {
	totals = map[totalKey]total{}
	keys := slices.SortedFunc(maps.Keys(last), func(a, b instPeriod) int {
		return strings.Compare(a.period+a.inst, b.period+b.inst)
	})
	prev := map[string]float64{}  // inst|key_path → last kept value
	timedOut := map[string]bool{} // inst|key_path → its last value was -1
	for _, k := range keys {
		r := last[k]
		tier := productTier(r.Ping)
		for _, m := range r.AppendMetrics(nil) {
			if !strings.HasPrefix(m.KeyPath, "counts") || m.ValueKind != "number" || m.Value == nil {
				continue
			}
			tf, _ := timeFrame(dict, m.KeyPath, m.ValueKind)
			if tf != window && tf != "all" {
				continue
			}
			v := *m.Value
			pk := k.inst + "|" + m.KeyPath
			if v < 0 { // -1 timeout and other fallbacks: left out
				timedOut[pk] = v == -1
				continue
			}
			value := v
			if tf == "all" {
				if _, ok := prev[pk]; !ok && timedOut[pk] {
					afterTimeout++
				}
				timedOut[pk] = false
				value = math.Max(v-prev[pk], 0)
				if v-prev[pk] < 0 {
					clamped++
				}
				prev[pk] = v
			}
			tk := totalKey{k.period, m.KeyPath, tier}
			t := totals[tk]
			t.sum += value
			t.instances++
			totals[tk] = t
		}
	}
	return totals, clamped, afterTimeout
}

type xmauKey struct{ month, kind, key string }

type xmau struct {
	recorded                     float64
	reporting, known             uint64
	reportingWeight, knownWeight float64
	pct, estimated               float64
}

// expectXMAU is mart_xmau_monthly: for every month and every 28d metric
// the dictionary tags, the reporting installations' monthly values
// against the installations known in the 90 days before the month's end,
// weighted by seats (1 without a license); paid_gmau on paid
// installations only.
func expectXMAU(recs []rows.Record, dict map[string]dictEntry) map[xmauKey]xmau {
	out := map[xmauKey]xmau{}
	last := lastPings(recs, monthOf)
	months := map[string]bool{}
	for k := range last {
		months[k.period] = true
	}
	for month := range months {
		start, _ := time.Parse(time.DateOnly, month)
		next := start.AddDate(0, 1, 0)
		from := next.AddDate(0, 0, -90)
		latest := map[string]*rows.Record{}
		for i := range recs {
			r := &recs[i]
			if at := r.Ping.RecordedAt.UTC(); at.Before(from) || !at.Before(next) {
				continue
			}
			if cur := latest[installation(r.Ping)]; cur == nil || later(r, cur) {
				latest[installation(r.Ping)] = r
			}
		}
		weight, paid := map[string]float64{}, map[string]bool{}
		var known, knownPaid uint64
		var knownWeight, knownPaidWeight float64
		for inst, r := range latest {
			w := 1.0
			if n := r.Ping.LicenseUserCount; n != nil && *n > 0 {
				w = float64(*n)
			}
			weight[inst], paid[inst] = w, isPaid(productTier(r.Ping))
			known++
			knownWeight += w
			if paid[inst] {
				knownPaid++
				knownPaidWeight += w
			}
		}
		for k, r := range last {
			if k.period != month {
				continue
			}
			for _, m := range r.AppendMetrics(nil) {
				e, ok := dict[m.KeyPath]
				if !ok || e.timeFrame != "28d" || m.ValueKind != "number" || m.Value == nil || *m.Value < 0 {
					continue
				}
				for _, kind := range e.kinds {
					if kind == "paid_gmau" && !paid[k.inst] {
						continue
					}
					xk := xmauKey{month, kind, m.KeyPath}
					x := out[xk]
					x.recorded += *m.Value
					x.reporting++
					x.reportingWeight += weight[k.inst]
					out[xk] = x
				}
			}
		}
		for xk, x := range out {
			if xk.month != month {
				continue
			}
			x.known, x.knownWeight = known, knownWeight
			if xk.kind == "paid_gmau" {
				x.known, x.knownWeight = knownPaid, knownPaidWeight
			}
			x.pct = x.reportingWeight / x.knownWeight
			x.estimated = x.recorded + x.recorded*(1-x.pct)/x.pct
			out[xk] = x
		}
	}
	return out
}

type adoptionKey struct{ week, version, edition string }

type adoption struct {
	majorMinor  string
	instances   uint64
	activeUsers int64
}

// expectAdoption is mart_version_adoption: installations and their active
// users per ISO week × version × edition, by their last ping of the week.
func expectAdoption(recs []rows.Record) map[adoptionKey]adoption {
	out := map[adoptionKey]adoption{}
	for k, r := range lastPings(recs, mondayOf) {
		ak := adoptionKey{k.period, r.Ping.Version, r.Ping.Edition}
		a := out[ak]
		parts := strings.Split(r.Ping.Version, ".")
		num := func(i int) string {
			if i >= len(parts) {
				return "0"
			}
			n, err := strconv.ParseUint(parts[i], 10, 32)
			if err != nil {
				return "0"
			}
			return strconv.FormatUint(n, 10)
		}
		a.majorMinor = num(0) + "." + num(1)
		a.instances++
		if r.Ping.ActiveUserCount != nil {
			a.activeUsers += *r.Ping.ActiveUserCount
		}
		out[ak] = a
	}
	return out
}

type licenseKey struct{ account, subscription string }

type license struct {
	installations uint64
	activeUsers   int64
	seats         *int64
	ratio         float64 // -1 without seats
	lastPing      time.Time
	daysOK        bool // days_since_last_ping agrees with built_at
}

// expectLicenses is mart_license_utilization: per account × subscription,
// the installations' latest active users against the seats of the
// subscription's latest ping.
func expectLicenses(recs []rows.Record) map[licenseKey]license {
	latest := map[licenseKey]map[string]*rows.Record{}
	for i := range recs {
		r := &recs[i]
		if r.Ping.SubscriptionID == "" {
			continue
		}
		lk := licenseKey{r.Ping.AccountID, r.Ping.SubscriptionID}
		if latest[lk] == nil {
			latest[lk] = map[string]*rows.Record{}
		}
		if cur := latest[lk][installation(r.Ping)]; cur == nil || later(r, cur) {
			latest[lk][installation(r.Ping)] = r
		}
	}
	out := map[licenseKey]license{}
	for lk, insts := range latest {
		l := license{daysOK: true, ratio: -1}
		var newest *rows.Record
		for _, r := range insts {
			l.installations++
			if r.Ping.ActiveUserCount != nil {
				l.activeUsers += *r.Ping.ActiveUserCount
			}
			if newest == nil || r.Ping.RecordedAt.After(newest.Ping.RecordedAt) {
				newest = r
			}
		}
		l.seats, l.lastPing = newest.Ping.LicenseUserCount, newest.Ping.RecordedAt.UTC()
		if l.seats != nil && *l.seats > 0 {
			l.ratio = float64(l.activeUsers) / float64(*l.seats)
		}
		out[lk] = l
	}
	return out
}

type scoreKey struct{ uuid, month string }

type scoreRow struct {
	pingID, hostname string
	overall          float64
	steps            [10]float64 // idea … feedback
	percentage       [10]float64 // in feature order
}

// stepFeatures are GitLab's "idea to production" steps: the features
// (indexes in feature order issues, notes, milestones, boards,
// merge_requests, ci_pipelines, environments, deployments,
// projects_prometheus_active, service_desk_issues) each step averages.
var stepFeatures = [10][]int{{0}, {0, 1}, {2, 3}, {4}, {4}, {5}, {5, 6}, {6, 7}, {7}, {8, 9}}

// expectScores is mart_devops_score: per uuid and month, the last score's
// percentages, their mean and the steps.
func expectScores(recs []rows.Record, scores []score) map[scoreKey]scoreRow {
	host := map[string]string{}
	for _, r := range recs {
		host[r.Ping.PingID] = r.Ping.Hostname
	}
	lastOf := map[scoreKey]score{}
	for _, s := range scores {
		k := scoreKey{s.ping.UUID, monthOf(s.ping.RecordedAt)}
		cur, ok := lastOf[k]
		if !ok || s.ping.RecordedAt.After(cur.ping.RecordedAt) ||
			(s.ping.RecordedAt.Equal(cur.ping.RecordedAt) && s.ping.PingID > cur.ping.PingID) {
			lastOf[k] = s
		}
	}
	out := map[scoreKey]scoreRow{}
	for k, s := range lastOf {
		row := scoreRow{pingID: s.ping.PingID, hostname: host[s.ping.PingID], percentage: s.percentage}
		for _, p := range s.percentage {
			row.overall += p / 10
		}
		for i, fs := range stepFeatures {
			for _, f := range fs {
				row.steps[i] += s.percentage[f] / float64(len(fs))
			}
		}
		out[k] = row
	}
	return out
}

type healthKey struct{ version, key string }

type health struct {
	pings                      uint64
	fallbacks                  [4]uint64 // -1 timeout, -2 redis, -3 sql, -1000 deprecated
	versionPings, errorReports uint64
	timings, timingErrors      uint64
	p50, p95                   float64 // -1 without timings
}

// expectHealth is mart_ping_health: per version × key path, the leaves,
// fallbacks by kind, the version's pings and error reports, and the
// timings attributed to the version of the instance's ping they follow
// (in the generated fleet every timing follows a ping of an installation
// with its own uuid, so its version is that installation's).
func expectHealth(recs []rows.Record, reports rows.ReportBatch) map[healthKey]health {
	out := map[healthKey]health{}
	versionPings, versionErrors := map[string]uint64{}, map[string]uint64{}
	versionOf := map[string]string{} // uuid → version of its pings
	for i := range recs {
		r := &recs[i]
		versionPings[r.Ping.Version]++
		versionOf[r.Ping.UUID] = r.Ping.Version
		for _, m := range r.AppendMetrics(nil) {
			hk := healthKey{r.Ping.Version, m.KeyPath}
			h := out[hk]
			h.pings++
			if m.ValueKind == "number" && m.Value != nil {
				switch *m.Value {
				case -1:
					h.fallbacks[0]++
				case -2:
					h.fallbacks[1]++
				case -3:
					h.fallbacks[2]++
				case -1000:
					h.fallbacks[3]++
				}
			}
			out[hk] = h
		}
	}
	for _, e := range reports.Errors {
		versionErrors[e.GetVersion()]++
	}
	elapsed := map[healthKey][]float64{}
	for _, tr := range reports.Timings {
		for _, m := range tr.GetMetrics() {
			hk := healthKey{versionOf[tr.GetUuid()], m.GetName()}
			elapsed[hk] = append(elapsed[hk], m.GetTimeElapsed())
			h := out[hk]
			h.timings++
			if m.GetError() != "" {
				h.timingErrors++
			}
			out[hk] = h
		}
	}
	for hk, h := range out {
		h.versionPings, h.errorReports = versionPings[hk.version], versionErrors[hk.version]
		h.p50, h.p95 = -1, -1
		if xs := elapsed[hk]; len(xs) > 0 {
			h.p50, h.p95 = quantileInclusive(xs, 0.5), quantileInclusive(xs, 0.95)
		}
		out[hk] = h
	}
	return out
}

// quantileInclusive is ClickHouse's quantileExactInclusive (numpy's
// default): linear interpolation at h = (n − 1) × q of the sorted values.
func quantileInclusive(xs []float64, q float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	h := float64(len(s)-1) * q
	lo := int(math.Floor(h))
	if lo+1 >= len(s) {
		return s[lo]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}
