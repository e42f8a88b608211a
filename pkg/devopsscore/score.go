// Package devopsscore computes the DevOps Score (GitLab's Conversational
// Development Index, conv_index) that the gateway answers to an instance
// with each ping, keeps what that needs in a JetStream key-value bucket,
// and refreshes the leaders from the warehouse. The formula is written out
// in docs/devops-score.md; this package implements exactly that page.
//
// The gateway and the loader both use it (the gateway scores, the loader
// refreshes the leaders), and so does the operator CLI.
package devopsscore

import (
	"math"
	"slices"
	"time"
)

// NumFeatures is the number of scored features.
const NumFeatures = 10

// Feature indexes, in GitLab's order (the DevOps Report's cards).
const (
	Issues = iota
	Notes
	Milestones
	Boards
	MergeRequests
	CIPipelines
	Environments
	Deployments
	ProjectsPrometheusActive
	ServiceDeskIssues
)

// FeatureNames are the features' names as in the answer's field names
// (leader_<name>, instance_<name>, percentage_<name>) and in counts.<name>.
func FeatureNames() [NumFeatures]string {
	return [NumFeatures]string{
		"issues", "notes", "milestones", "boards", "merge_requests", "ci_pipelines",
		"environments", "deployments", "projects_prometheus_active", "service_desk_issues",
	}
}

// Counter indexes of a Snapshot: one per feature (counts.<feature>), plus
// counts.projects, the denominator of projects_prometheus_active.
const (
	Projects    = NumFeatures
	NumCounters = NumFeatures + 1
)

// CounterIndex maps a member name of the payload's counts object to its
// counter index, or -1 when the score does not read it.
func CounterIndex(name string) int {
	switch name {
	case "issues":
		return Issues
	case "notes":
		return Notes
	case "milestones":
		return Milestones
	case "boards":
		return Boards
	case "merge_requests":
		return MergeRequests
	case "ci_pipelines":
		return CIPipelines
	case "environments":
		return Environments
	case "deployments":
		return Deployments
	case "projects_prometheus_active":
		return ProjectsPrometheusActive
	case "service_desk_issues":
		return ServiceDeskIssues
	case "projects":
		return Projects
	}
	return -1
}

// Snapshot is what one ping says about the scored features: the all-time
// counters and the active user count, each possibly absent. A negative
// value (GitLab's fallbacks -1, -2, -1000) counts as absent.
type Snapshot struct {
	PingID     string
	RecordedAt time.Time
	// ActiveUsers is active_user_count; HasActiveUsers is false when the
	// ping has none.
	ActiveUsers    float64
	HasActiveUsers bool
	Counters       [NumCounters]float64
	HasCounter     [NumCounters]bool
}

// SetCounter records counter i, ignoring negative and non-finite values.
func (s *Snapshot) SetCounter(i int, v float64) {
	if i < 0 || i >= NumCounters || !usable(v) {
		return
	}
	s.Counters[i], s.HasCounter[i] = v, true
}

// SetActiveUsers records active_user_count, ignoring negative and
// non-finite values.
func (s *Snapshot) SetActiveUsers(v float64) {
	if usable(v) {
		s.ActiveUsers, s.HasActiveUsers = v, true
	}
}

func usable(v float64) bool { return v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v) }

// Values are one number per feature.
type Values [NumFeatures]float64

// Leaders are the reference values the instance is compared with.
type Leaders struct {
	// ComputedAt is when they were computed (zero: never).
	ComputedAt time.Time `json:"computed_at"`
	// Instances is the size of the population they were computed over.
	Instances int `json:"instances"`
	// Values are leader_<feature>.
	Values Values `json:"values"`
}

// Score is the answer for one ping.
type Score struct {
	PreviousPingID     string    `json:"previous_ping_id"`
	PreviousRecordedAt time.Time `json:"previous_recorded_at"`
	// ActiveUsers is active_user_count as used (0 when absent).
	ActiveUsers       int64     `json:"active_users"`
	LeadersComputedAt time.Time `json:"leaders_computed_at"`
	LeadersInstances  int       `json:"leaders_instances"`
	Leader            Values    `json:"leader"`
	Instance          Values    `json:"instance"`
	Percentage        Values    `json:"percentage"`
}

// Days is the scaling period: a feature's growth is scaled to this many days.
const Days = 30

// MinInterval is the shortest interval between two pings the growth is
// scaled over: two pings minutes apart do not multiply a few new issues
// into thousands a month.
const MinInterval = 24 * time.Hour

// InstanceValues computes instance_<feature> of cur measured against prev
// (an earlier ping of the same instance):
//
//   - per-user features: growth of counts.<feature> since prev, never
//     negative (a counter that went down counts as no growth), scaled to
//     Days days over the interval between the pings (at least
//     MinInterval), divided by cur's active_user_count; 0 when either ping
//     lacks the counter or cur has no active users;
//   - projects_prometheus_active: 100 × counts.projects_prometheus_active
//     / counts.projects of cur, at most 100; 0 when either is absent or
//     there are no projects.
//
// Every value is finite and ≥ 0.
func InstanceValues(prev, cur Snapshot) Values {
	var v Values
	interval := max(cur.RecordedAt.Sub(prev.RecordedAt), MinInterval)
	scale := float64(Days*24*time.Hour) / float64(interval)
	for f := range NumFeatures {
		if f == ProjectsPrometheusActive {
			if cur.HasCounter[f] && cur.HasCounter[Projects] && cur.Counters[Projects] > 0 {
				v[f] = min(100, 100*cur.Counters[f]/cur.Counters[Projects])
			}
			continue
		}
		if !prev.HasCounter[f] || !cur.HasCounter[f] || !cur.HasActiveUsers || cur.ActiveUsers <= 0 {
			continue
		}
		growth := max(0, cur.Counters[f]-prev.Counters[f])
		v[f] = growth * scale / cur.ActiveUsers
	}
	for f := range v {
		if !usable(v[f]) {
			v[f] = 0
		}
	}
	return v
}

// Percentages computes percentage_<feature>: 100 × instance / leader, at
// most 100; 0 when the leader is 0.
func Percentages(instance, leader Values) Values {
	var p Values
	for f := range p {
		if leader[f] > 0 {
			p[f] = min(100, 100*instance[f]/leader[f])
		}
		if !usable(p[f]) {
			p[f] = 0
		}
	}
	return p
}

// Compute scores cur against prev with the given leaders.
func Compute(prev, cur Snapshot, leaders Leaders) Score {
	inst := InstanceValues(prev, cur)
	users := int64(0)
	if cur.HasActiveUsers && cur.ActiveUsers < math.MaxInt64 {
		users = int64(cur.ActiveUsers)
	}
	return Score{
		PreviousPingID: prev.PingID, PreviousRecordedAt: prev.RecordedAt, ActiveUsers: users,
		LeadersComputedAt: leaders.ComputedAt, LeadersInstances: leaders.Instances,
		Leader: leaders.Values, Instance: inst, Percentage: Percentages(inst, leaders.Values),
	}
}

// Window is how recently an instance must have reported to count in the
// leaders' population: the population is, for every instance with a score
// received within Window before the refresh, the instance values of its
// most recent score (by recorded_at). Received, not recorded: an
// instance's clock does not decide, and pings loaded today count today.
const Window = 30 * 24 * time.Hour

// LeaderQuantile is the quantile of the instances' values that makes the
// leader, and MinLeaderPopulation the population below which the leader
// is the maximum instead.
const (
	LeaderQuantile      = 0.9
	MinLeaderPopulation = 10
)

// ComputeLeaders derives the leaders from the population's instance
// values (one Values per instance): per feature, the 90th percentile
// (linear interpolation between the closest ranks: h = (n−1)·0.9, value =
// x[⌊h⌋] + (h−⌊h⌋)·(x[⌊h⌋+1]−x[⌊h⌋]) over the sorted values) when at
// least 10 instances are in the population, the maximum when fewer are,
// and 0 when none is.
func ComputeLeaders(population []Values, now time.Time) Leaders {
	l := Leaders{ComputedAt: now.UTC(), Instances: len(population)}
	if len(population) == 0 {
		return l
	}
	xs := make([]float64, len(population))
	for f := range NumFeatures {
		for i, v := range population {
			x := v[f]
			if !usable(x) {
				x = 0
			}
			xs[i] = x
		}
		slices.Sort(xs)
		l.Values[f] = quantile(xs)
	}
	return l
}

func quantile(sorted []float64) float64 {
	n := len(sorted)
	if n < MinLeaderPopulation {
		return sorted[n-1]
	}
	h := float64(n-1) * LeaderQuantile
	lo := int(math.Floor(h))
	if lo+1 >= n {
		return sorted[n-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}
