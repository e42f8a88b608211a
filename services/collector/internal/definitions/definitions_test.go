package definitions

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/serviceping/serviceping/services/collector/internal/definitions/definitionstest"
)

// reference is GitLab's real material, beside the clone (../shared).
func reference(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"../../../../../shared/reference/gitlab", "/work/shared/reference/gitlab"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("GitLab reference material (../shared/reference/gitlab) not found beside the clone")
	return ""
}

// TestRealDefinitionsLoad loads GitLab's real definitions, the unmodified
// copies in testdata/gitlab/metrics (CE, EE, internal-events fixtures),
// with the embedded schemas and with the copy in testdata/collector/schema.
func TestRealDefinitionsLoad(t *testing.T) {
	t.Parallel()
	ref := "../../../../testdata/gitlab/metrics"
	for _, schemaDir := range []string{"", "../../../../testdata/collector/schema"} {
		v, err := NewValidator(schemaDir)
		if err != nil {
			t.Fatalf("validator(%q): %v", schemaDir, err)
		}
		total, emitted := 0, 0
		var problems []string
		for _, dir := range []string{"ce", "ee", "fixtures"} {
			set, err := v.Load(filepath.Join(ref, dir))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range set.Metrics {
				total++
				if m.Emitted() {
					emitted++
				}
			}
			for _, p := range set.Problems {
				problems = append(problems, dir+"/"+p.Error())
			}
		}
		t.Logf("schemas %q: %d metrics, %d emitted, %d problems", schemaDir, total, emitted, len(problems))
		for _, p := range problems {
			t.Log(p)
		}
		// The real corpus spans 2021-2026: 7 files genuinely violate the
		// schema (null description/data_source, numeric milestone, a product
		// group newer than product_groups.json) and 2 fixture key paths
		// collide. Everything else must load.
		if len(problems) != 9 || emitted < 140 {
			t.Fatalf("got %d problems, %d emitted metrics; want 9 and >= 140", len(problems), emitted)
		}
	}
}

func TestTimeFrameExpansion(t *testing.T) {
	t.Parallel()
	v, err := NewValidator("")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := v.Parse("x.yml", []byte(definitionstest.Edit(definitionstest.Modern,
		"key_path: counts.x", "key_path: counts.count_total_x",
		"time_frame: all", "time_frame: [28d, 7d, all]",
		"data_source: database", "data_source: internal_events",
		"instrumentation_class: CountXMetric", "events:\n- name: x")))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.KeyPath+"@"+m.TimeFrame)
	}
	want := []string{"counts.count_total_x_monthly@28d", "counts.count_total_x_weekly@7d", "counts.count_total_x@all"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestProblemsReportedOthersLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := definitionstest.Edit(definitionstest.Modern, "key_path: counts.x", "key_path: counts.good")
	files := map[string]string{
		"a_good.yml":          good,
		"b_legacy.yml":        definitionstest.Legacy,
		"c_bad_yaml.yml":      "key_path: [unclosed",
		"d_bad_enum.yml":      strings.Replace(good, "value_type: number", "value_type: integer", 1),
		"e_missing.yml":       "key_path: counts.only\n",
		"f_broken_no_url.yml": strings.Replace(good, "status: active", "status: broken", 1),
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := NewValidator("")
	set, err := v.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Metrics) != 2 {
		t.Fatalf("metrics = %+v", set.Metrics)
	}
	if m := set.Metrics[1]; m.Status != StatusActive || !m.Legacy || !slices.Equal(m.Tiers, []string{"free", "premium", "ultimate"}) {
		t.Fatalf("legacy normalisation: %+v", m)
	}
	var bad []string
	for _, p := range set.Problems {
		bad = append(bad, p.File)
		if p.Reason == "" {
			t.Errorf("%s: empty reason", p.File)
		}
		t.Log(p.Error())
	}
	if want := []string{"c_bad_yaml.yml", "d_bad_enum.yml", "e_missing.yml", "f_broken_no_url.yml"}; !slices.Equal(bad, want) {
		t.Fatalf("problems %v want %v", bad, want)
	}
}

func TestSchemaCopiesIdentical(t *testing.T) {
	t.Parallel()
	ref := filepath.Join(reference(t), "gitlabhq/config/metrics")
	pairs := map[string]string{
		"legacy_schema.json": filepath.Join(ref, "schema.json"),
	}
	entries, _ := filepath.Glob(filepath.Join(ref, "schema", "*.json"))
	sub, _ := filepath.Glob(filepath.Join(ref, "schema", "internal_events", "*.json"))
	for _, e := range append(entries, sub...) {
		rel, _ := filepath.Rel(filepath.Join(ref, "schema"), e)
		pairs[rel] = e
	}
	for rel, orig := range pairs {
		want, err := os.ReadFile(orig)
		if err != nil {
			t.Fatal(err)
		}
		for _, copyDir := range []string{"schema", "../../../../testdata/collector/schema"} {
			got, err := os.ReadFile(filepath.Join(copyDir, rel))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("%s/%s differs from upstream %s", copyDir, rel, orig)
			}
		}
	}
}

// TestSkipValidationKept: a file that says skip_validation: true (GitLab's
// older definitions, which MetricDefinition#validate! never validated) is
// kept despite a null data_source, its problem reported as kept; the same
// file without the flag is rejected.
func TestSkipValidationKept(t *testing.T) {
	t.Parallel()
	legacy := `key_path: database.version
description: d
product_group: group::distribution
value_type: string
status: data_available
time_frame: none
data_source:
distribution: [ce]
tier: [free]
`
	for _, c := range []struct {
		name string
		text string
		kept bool
	}{
		{"skip_validation", legacy + "skip_validation: true\n", true},
		{"validated", legacy, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "a.yml"), []byte(c.text), 0o644); err != nil {
				t.Fatal(err)
			}
			v, _ := NewValidator("")
			set, err := v.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Problems) != 1 || set.Problems[0].Kept != c.kept || !strings.Contains(set.Problems[0].Reason, "data_source") {
				t.Fatalf("problems %+v, want one about data_source, kept=%v", set.Problems, c.kept)
			}
			if got := len(set.Metrics) == 1 && set.Metrics[0].KeyPath == "database.version" && set.Metrics[0].Emitted(); got != c.kept {
				t.Fatalf("metrics %+v, invalid %+v; want kept=%v", set.Metrics, set.Invalid, c.kept)
			}
		})
	}
}
