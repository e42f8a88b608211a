package definitions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds metric definition parsing — YAML files an operator or a
// GitLab release supplies — arbitrary bytes: no panic, and every metric
// it returns names its key path and a known time frame.
func FuzzParse(f *testing.F) {
	for _, file := range []string{
		"counts_all/active_user_count.yml", "counts_28d/*.yml", "counts_7d/*.yml", "internal_events/*.yml",
		"redis_hll/*.yml", "aggregates/*.yml", "legacy/*.yml", "license/*.yml", "prometheus/*.yml",
	} {
		matches, _ := filepath.Glob(filepath.Join("../../../../testdata/collector/metrics", file))
		for _, m := range matches[:min(2, len(matches))] {
			if b, err := os.ReadFile(m); err == nil {
				f.Add(b)
			}
		}
	}
	for _, s := range []string{
		"key_path: counts.x\ntime_frame: [7d, 28d, all]\nstatus: active\n",
		"key_path: a\ntime_frame: none\nvalue_type: object\nvalue_json_schema: x.json\n",
		"events:\n- name: e\n  unique: user.id\n", "- a\n- b\n", "a: &x [*x]\n", ": :\n", "", "null", "key_path: [1]\n",
	} {
		f.Add([]byte(s))
	}
	v, err := NewValidator("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		metrics, err := v.Parse("fuzz.yml", data)
		if err != nil {
			return
		}
		for _, m := range metrics {
			if strings.TrimSpace(m.KeyPath) == "" {
				t.Fatalf("metric without a key path: %+v", m)
			}
			switch m.TimeFrame {
			case "7d", "28d", "all", "none":
			default:
				t.Fatalf("metric %s: time frame %q", m.KeyPath, m.TimeFrame)
			}
		}
	})
}
