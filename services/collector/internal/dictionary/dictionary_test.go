package dictionary

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/serviceping/serviceping/services/collector/internal/definitions"
	"github.com/serviceping/serviceping/services/collector/internal/definitions/definitionstest"
)

func TestBuild(t *testing.T) {
	t.Parallel()
	v, err := definitions.NewValidator("")
	if err != nil {
		t.Fatal(err)
	}
	// dir -> file -> content; directories are given to Load in this order.
	type dir struct {
		name  string
		files map[string]string
	}
	tests := []struct {
		name      string
		dirs      []dir
		want      []string // CSV lines after the header
		conflicts []Conflict
		problems  []Problem
	}{{
		name: "time_frame array expands into suffixed key paths, sorted",
		dirs: []dir{{"defs", map[string]string{"x.yml": definitionstest.Edit(definitionstest.Modern,
			"time_frame: all", "time_frame: [28d, 7d, all]",
			"data_source: database", "data_source: internal_events",
			"instrumentation_class: CountXMetric", "events: [{name: x}]")}}},
		want: []string{
			"counts.x,all,internal_events,optional,active,number,,,analytics_instrumentation,,false,false,false,false,\"free,premium,ultimate\",16.6,,defs/x.yml",
			"counts.x_monthly,28d,internal_events,optional,active,number,,,analytics_instrumentation,,false,false,false,false,\"free,premium,ultimate\",16.6,,defs/x.yml",
			"counts.x_weekly,7d,internal_events,optional,active,number,,,analytics_instrumentation,,false,false,false,false,\"free,premium,ultimate\",16.6,,defs/x.yml",
		},
	}, {
		name: "legacy file: tiers and status mapped, section and stage as written, category lowercase",
		dirs: []dir{{"defs", map[string]string{"legacy.yml": definitionstest.Legacy}}},
		want: []string{
			"usage_activity_by_stage_monthly.create.action_monthly_active_users_project_repo,28d,redis_hll,operational,active,number,dev,create,group::source code,\"smau,gmau,paid_gmau,customer_health_score\",true,true,true,false,\"free,premium,ultimate\",<13.9,RedisHLLMetric,defs/legacy.yml",
		},
	}, {
		name: "performance indicators: umau alone, empty list, absent",
		dirs: []dir{{"defs", map[string]string{
			"a.yml": definitionstest.Edit(definitionstest.Modern, "key_path: counts.x", "key_path: usage_activity_by_stage_monthly.manage.events", "tiers:", "performance_indicator_type: [umau]\ntiers:"),
			"b.yml": definitionstest.Edit(definitionstest.Modern, "key_path: counts.x", "key_path: counts.empty", "tiers:", "performance_indicator_type: []\ntiers:"),
			"c.yml": definitionstest.Edit(definitionstest.Modern, "key_path: counts.x", "key_path: counts.absent", "tiers: [free, premium, ultimate]", "tiers: [ultimate, premium]"),
		}}},
		want: []string{
			"counts.absent,all,database,optional,active,number,,,analytics_instrumentation,,false,false,false,false,\"ultimate,premium\",16.6,CountXMetric,defs/c.yml",
			"counts.empty,all,database,optional,active,number,,,analytics_instrumentation,,false,false,false,false,\"free,premium,ultimate\",16.6,CountXMetric,defs/b.yml",
			"usage_activity_by_stage_monthly.manage.events,all,database,optional,active,number,,,analytics_instrumentation,umau,false,false,false,true,\"free,premium,ultimate\",16.6,CountXMetric,defs/a.yml",
		},
	}, {
		name: "a removed metric keeps its row and status",
		dirs: []dir{{"defs", map[string]string{"r.yml": definitionstest.Edit(definitionstest.Modern,
			"status: active", "status: removed\nremoved_by_url: https://example.com/2\nmilestone_removed: '17.0'")}}},
		want: []string{
			"counts.x,all,database,optional,removed,number,,,analytics_instrumentation,,false,false,false,false,\"free,premium,ultimate\",16.6,CountXMetric,defs/r.yml",
		},
	}, {
		name: "a file the schema rejects is listed as decoded, milestone as written",
		dirs: []dir{{"defs", map[string]string{"uuid.yml": `key_path: uuid
description: GitLab instance unique identifier
value_type: string
status: data_available
milestone: 8.10
group: group::product analytics
time_frame: none
data_source: database
distribution: [ee, ce]
tier: ['free', 'starter', 'premium', 'ultimate', 'bronze', 'silver', 'gold']
`}}},
		want: []string{
			"uuid,none,database,,active,string,,,,,false,false,false,false,\"free,premium,ultimate\",8.10,,defs/uuid.yml",
		},
		problems: []Problem{{File: "defs/uuid.yml", Included: true}},
	}, {
		name: "the first directory wins a key_path defined twice",
		dirs: []dir{
			{"first", map[string]string{"x.yml": definitionstest.Modern}},
			{"second", map[string]string{
				"x.yml": definitionstest.Edit(definitionstest.Modern, "status: active", "status: broken\nrepair_issue_url: https://example.com/3"),
				"y.yml": definitionstest.Edit(definitionstest.Modern, "key_path: counts.x", "key_path: counts.y"),
			}},
		},
		want: []string{
			"counts.x,all,database,optional,active,number,,,analytics_instrumentation,,false,false,false,false,\"free,premium,ultimate\",16.6,CountXMetric,first/x.yml",
			"counts.y,all,database,optional,active,number,,,analytics_instrumentation,,false,false,false,false,\"free,premium,ultimate\",16.6,CountXMetric,second/y.yml",
		},
		conflicts: []Conflict{{KeyPath: "counts.x", Kept: "first/x.yml", Dropped: "second/x.yml"}},
	}, {
		name: "within a directory the first file wins, removed or not",
		dirs: []dir{{"defs", map[string]string{
			"a/old.yml": definitionstest.Edit(definitionstest.Modern, "status: active", "status: removed\nremoved_by_url: https://example.com/2\nmilestone_removed: '17.0'"),
			"b/new.yml": definitionstest.Edit(definitionstest.Modern, "milestone: '16.6'", "milestone: '17.1'"),
		}}},
		want: []string{
			"counts.x,all,database,optional,removed,number,,,analytics_instrumentation,,false,false,false,false,\"free,premium,ultimate\",16.6,CountXMetric,defs/a/old.yml",
		},
		conflicts: []Conflict{{KeyPath: "counts.x", Kept: "defs/a/old.yml", Dropped: "defs/b/new.yml"}},
	}, {
		name: "two emitted definitions in one directory: the parser keeps the first and reports the other",
		dirs: []dir{{"defs", map[string]string{
			"a.yml": definitionstest.Modern,
			"b.yml": definitionstest.Edit(definitionstest.Modern, "milestone: '16.6'", "milestone: '17.1'"),
		}}},
		want: []string{
			"counts.x,all,database,optional,active,number,,,analytics_instrumentation,,false,false,false,false,\"free,premium,ultimate\",16.6,CountXMetric,defs/a.yml",
		},
		problems: []Problem{{File: "defs/b.yml"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			var dirs []string
			for _, d := range tt.dirs {
				dirs = append(dirs, d.name)
				for name, content := range d.files {
					p := filepath.Join(root, d.name, name)
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			sources, problems, err := Load(v, root, dirs)
			if err != nil {
				t.Fatal(err)
			}
			for i := range problems {
				problems[i].Reason = "" // asserted by the definitions package
			}
			if !slices.Equal(problems, tt.problems) {
				t.Errorf("problems = %+v, want %+v", problems, tt.problems)
			}
			rows, conflicts := Build(sources)
			if !slices.Equal(conflicts, tt.conflicts) {
				t.Errorf("conflicts = %+v, want %+v", conflicts, tt.conflicts)
			}
			var buf bytes.Buffer
			if err := WriteCSV(&buf, rows); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if lines[0] != strings.Join(Header(), ",") {
				t.Errorf("header = %s", lines[0])
			}
			if got := lines[1:]; !slices.Equal(got, tt.want) {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestHeaderIsTheSeedContract(t *testing.T) {
	t.Parallel()
	const want = "key_path,time_frame,data_source,data_category,status,value_type,product_section,product_stage,product_group,performance_indicator_type,is_smau,is_gmau,is_paid_gmau,is_umau,tiers,milestone,instrumentation_class,definition_file"
	if got := strings.Join(Header(), ","); got != want {
		t.Fatalf("header = %s\nwant     %s", got, want)
	}
	if n := len(Row{}.record()); n != len(Header()) {
		t.Fatalf("a row has %d fields, the header %d", n, len(Header()))
	}
}

// TestSeedIsCurrent regenerates the dictionary from the repository's
// definitions and compares it with the committed dbt seed, byte for byte.
func TestSeedIsCurrent(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := RepositoryRoot(wd)
	if root == wd {
		t.Fatal("repository root (the directory holding go.work) not found above " + wd)
	}
	v, err := definitions.NewValidator("")
	if err != nil {
		t.Fatal(err)
	}
	generate := func() []byte {
		sources, _, err := Load(v, root, DefaultDirs())
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := Build(sources)
		var buf bytes.Buffer
		if err := WriteCSV(&buf, rows); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	got := generate()
	if again := generate(); !bytes.Equal(got, again) {
		t.Fatal("two generations differ: the output is not deterministic")
	}
	committed, err := os.ReadFile(filepath.Join(root, SeedFile))
	if err != nil {
		t.Fatalf("%v\nrun: go run ./services/collector dictionary --out %s", err, SeedFile)
	}
	if !bytes.Equal(got, committed) {
		gl, cl := strings.Split(string(got), "\n"), strings.Split(string(committed), "\n")
		for i := range max(len(gl), len(cl)) {
			g, c := line(gl, i), line(cl, i)
			if g != c {
				t.Fatalf("%s is stale (first difference at line %d)\n  generated: %s\n  committed: %s\nrun: go run ./services/collector dictionary --out %s",
					SeedFile, i+1, g, c, SeedFile)
			}
		}
	}

	// The seed carries the metrics the warehouse and DevOps Score rely on,
	// and GitLab's xMAU-tagged metrics.
	keys := map[string]bool{}
	for _, l := range strings.Split(string(got), "\n")[1:] {
		k, _, _ := strings.Cut(l, ",")
		keys[k] = true
	}
	for _, k := range []string{
		"counts.issues", "counts.merge_requests", "counts.service_desk_issues",
		"usage_activity_by_stage_monthly.create.action_monthly_active_users_project_repo",
		"usage_activity_by_stage_monthly.manage.events",
	} {
		if !keys[k] {
			t.Errorf("seed has no row for %s", k)
		}
	}
	if !strings.Contains(string(got), `"smau,gmau,paid_gmau,customer_health_score",true,true,true,false,`) {
		t.Error("seed has no SMAU metric flagged is_smau")
	}
}

func line(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end of file)"
}
