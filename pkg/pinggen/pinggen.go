// Package pinggen generates realistic Service Ping payloads for tests,
// benchmarks, demos and load runs. The key tree is GitLab's own: the
// complete 13.9 payload skeleton (gitlab-data/analytics
// usage_ping_instance_queries.json, 1,296 leaves, SQL text in place of
// values) extended with the metric families later versions added
// (internal-events totals and distinct counts, sums, settings), so a
// generated ping has 2,000–3,000 leaves and weighs 100–200 KB, like a
// modern EE payload.
//
// Generation is deterministic: the same Spec always yields the same bytes.
package pinggen

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

//go:embed gitlab_13_9_skeleton.json.gz
var skeletonGz []byte

// Spec says which ping to generate.
type Spec struct {
	// Instance numbers the simulated installation; it fixes uuid, hostname,
	// edition, license and the scale of its counts.
	Instance int
	// Week is the number of weeks after Epoch the ping was recorded.
	Week int
	// Leaves is the target number of scalar leaves (default 2,600).
	Leaves int
}

// Epoch is the recorded_at of week 0: a Monday.
var Epoch = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// Generator holds the parsed skeleton; it is safe for concurrent use.
type Generator struct {
	skeleton map[string]any
}

// New parses the embedded skeleton.
func New() (*Generator, error) {
	zr, err := gzip.NewReader(bytes.NewReader(skeletonGz))
	if err != nil {
		return nil, fmt.Errorf("open skeleton: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("read skeleton: %w", err)
	}
	var sk map[string]any
	if err := json.Unmarshal(raw, &sk); err != nil {
		return nil, fmt.Errorf("parse skeleton: %w", err)
	}
	return &Generator{skeleton: sk}, nil
}

// Instance is the identity of a simulated installation.
type Instance struct {
	UUID, Hostname, Edition, Version, Plan string
	LicenseMD5, LicenseSHA256              string
	LicenseID                              int64
	Users                                  int64
}

var (
	editions = []string{"CE", "EE", "EES", "EEP", "EEU", "EE Free"}
	plans    = map[string]string{"CE": "", "EE": "starter", "EES": "starter", "EEP": "premium", "EEU": "ultimate", "EE Free": ""}
	versions = []string{"17.11.2", "18.0.1", "18.1.0", "18.2.3", "18.3.0-pre", "18.4.1", "18.5.0", "19.0.2"}
)

// InstanceOf returns the identity of installation n.
func InstanceOf(n int) Instance {
	r := rand.New(rand.NewPCG(uint64(n), 0x5e71c3))
	sum := sha256.Sum256([]byte(fmt.Sprintf("serviceping-instance-%d", n)))
	h := hex.EncodeToString(sum[:])
	uuid := h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
	ed := editions[r.IntN(len(editions))]
	in := Instance{
		UUID:     uuid,
		Hostname: fmt.Sprintf("gitlab-%d.example.com", n),
		Edition:  ed,
		Version:  versions[r.IntN(len(versions))],
		Plan:     plans[ed],
		Users:    int64(math.Exp(r.Float64()*8)) + 1,
	}
	if in.Plan != "" {
		lic := fmt.Sprintf("license-%d", n)
		m := md5.Sum([]byte(lic))
		s := sha256.Sum256([]byte(lic))
		in.LicenseMD5 = hex.EncodeToString(m[:])
		in.LicenseSHA256 = hex.EncodeToString(s[:])
		in.LicenseID = int64(10000 + n)
	}
	return in
}

// RecordedAt is the recorded_at string of a ping, in GitLab's format.
func RecordedAt(week int, inst int) string {
	t := Epoch.AddDate(0, 0, 7*week).Add(time.Duration(inst%86400) * time.Second)
	return t.Format("2006-01-02 15:04:05 UTC")
}

// Ping returns the payload as a JSON-ready tree.
func (g *Generator) Ping(s Spec) map[string]any {
	if s.Leaves == 0 {
		s.Leaves = 2600
	}
	inst := InstanceOf(s.Instance)
	r := rand.New(rand.NewPCG(uint64(s.Instance), uint64(s.Week)+1))
	scale := float64(inst.Users)
	out := fillTree(g.skeleton, r, scale).(map[string]any)

	out["uuid"] = inst.UUID
	out["hostname"] = inst.Hostname
	out["version"] = inst.Version
	out["edition"] = inst.Edition
	out["installation_type"] = []string{"omnibus-gitlab", "gitlab-helm-chart", "source", "gitlab-development-kit"}[s.Instance%4]
	out["recorded_at"] = RecordedAt(s.Week, s.Instance)
	out["active_user_count"] = inst.Users
	out["historical_max_users"] = inst.Users + int64(r.IntN(10))
	if inst.Plan != "" {
		out["license_md5"] = inst.LicenseMD5
		out["license_sha256"] = inst.LicenseSHA256
		out["license_id"] = inst.LicenseID
		out["license_plan"] = inst.Plan
		out["license_user_count"] = inst.Users + 10
		out["license_starts_at"] = "2026-01-01"
		out["license_expires_at"] = "2027-01-01"
		out["license_trial"] = false
		out["license_subscription_id"] = fmt.Sprintf("2c92a0%026x", s.Instance)
		out["licensee"] = map[string]any{"Name": fmt.Sprintf("Owner %d", s.Instance), "Email": fmt.Sprintf("admin@gitlab-%d.example.com", s.Instance), "Company": fmt.Sprintf("Company %d", s.Instance)}
	} else {
		for _, k := range []string{"license_md5", "license_id", "license_plan", "license_user_count", "license_starts_at", "license_expires_at", "license_trial", "license_subscription_id", "licensee"} {
			out[k] = nil
		}
	}
	out["recording_ce_finished_at"] = RecordedAt(s.Week, s.Instance)
	out["topology"] = map[string]any{
		"duration_s":                    r.Float64(),
		"failures":                      []any{},
		"application_requests_per_hour": r.IntN(100000),
		"nodes": []any{map[string]any{
			"node_memory_total_bytes": 33_000_000_000, "node_cpus": 8, "node_uname_info": map[string]any{"machine": "x86_64", "sysname": "Linux", "release": "6.1.0"},
			"node_services": []any{map[string]any{"name": "web", "process_count": 16, "process_memory_rss": 1 << 30}, map[string]any{"name": "sidekiq", "process_count": 4, "process_memory_rss": 1 << 29}},
		}},
	}
	extend(out, r, scale, s.Leaves)
	return out
}

// JSON returns the payload bytes (compact JSON).
func (g *Generator) JSON(s Spec) []byte {
	b, err := json.Marshal(g.Ping(s))
	if err != nil {
		panic(fmt.Sprintf("pinggen: marshal generated ping: %v", err)) // unreachable: the tree holds only JSON types
	}
	return b
}

// fillTree copies the skeleton, turning SQL text into plausible counts.
func fillTree(v any, r *rand.Rand, scale float64) any {
	switch x := v.(type) {
	case map[string]any:
		// Sorted keys: the draws must not depend on map iteration order.
		m := make(map[string]any, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			m[k] = fillTree(x[k], r, scale)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, c := range x {
			a[i] = fillTree(c, r, scale)
		}
		return a
	case string:
		if strings.HasPrefix(x, "SELECT") || strings.HasPrefix(x, "WITH") || strings.Contains(x, "FROM \"") {
			return count(r, scale)
		}
		return x
	case float64:
		if x == -1000 || x == -1 || x == -2 {
			return x // fallbacks of the real skeleton stay what they are
		}
		return count(r, scale)
	default:
		return x
	}
}

// count draws a usage count: mostly small, scaled by the instance's users,
// with 0.5 % timeouts (-1) as real pings show.
func count(r *rand.Rand, scale float64) int64 {
	if r.IntN(200) == 0 {
		return -1
	}
	if r.IntN(4) == 0 {
		return 0
	}
	return int64(r.ExpFloat64() * scale * 3)
}

var stages = []string{"plan", "create", "verify", "package", "deploy", "operate", "monitor", "secure", "govern", "manage", "analytics", "ai_powered"}
var actions = []string{"view", "create", "update", "delete", "approve", "merge", "comment", "run", "export", "import", "search", "open", "close", "assign", "label", "schedule"}
var objects = []string{"issue", "merge_request", "pipeline", "job", "epic", "vulnerability", "package", "environment", "deployment", "wiki_page", "snippet", "board", "milestone", "runner", "dashboard", "chat"}

// extend adds the metric families of modern GitLab versions until the ping
// has about target leaves.
func extend(out map[string]any, r *rand.Rand, scale float64, target int) {
	counts := out["counts"].(map[string]any)
	hll := out["redis_hll_counters"].(map[string]any)
	sums := map[string]any{}
	out["sums"] = sums
	settings := out["settings"].(map[string]any)
	for _, k := range []string{"gitaly_apdex", "collected_data_categories", "snowplow_enabled", "snowplow_configured_to_gitlab_collector", "operating_system", "user_cap_feature_enabled", "ldap_encrypted_secrets_enabled", "smtp_encrypted_secrets_enabled", "encrypted_secrets_enabled", "certificate_based_clusters_ff"} {
		switch k {
		case "collected_data_categories":
			settings[k] = []any{"standard", "subscription", "operational", "optional"}
		case "operating_system":
			settings[k] = "ubuntu-22.04"
		case "gitaly_apdex":
			settings[k] = math.Round(r.Float64()*1000) / 1000
		default:
			settings[k] = r.IntN(2) == 0
		}
	}
	leaves := countLeaves(out)
	for i := 0; leaves < target; i++ {
		stage := stages[i%len(stages)]
		event := fmt.Sprintf("%s_%s_%s", actions[(i/len(stages))%len(actions)], objects[(i/(len(stages)*len(actions)))%len(objects)], stage)
		if i >= len(stages)*len(actions)*len(objects) {
			event = fmt.Sprintf("%s_%d", event, i)
		}
		cat, _ := hll[stage].(map[string]any)
		if cat == nil {
			cat = map[string]any{}
			hll[stage] = cat
		}
		users := count(r, scale/4)
		cat["count_distinct_user_id_from_"+event+"_weekly"] = users
		cat["count_distinct_user_id_from_"+event+"_monthly"] = users + count(r, scale/8)
		counts["count_total_"+event] = count(r, scale*4)
		counts["count_total_"+event+"_weekly"] = count(r, scale)
		leaves += 4
		if i%5 == 0 {
			sums["sum_value_from_"+event] = count(r, scale*10)
			leaves++
		}
	}
}

func countLeaves(v any) int {
	if m, ok := v.(map[string]any); ok {
		n := 0
		for _, c := range m {
			n += countLeaves(c)
		}
		return n
	}
	return 1
}
