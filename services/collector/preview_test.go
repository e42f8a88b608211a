package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/serviceping/serviceping/pkg/cli/clitest"
	"github.com/serviceping/serviceping/services/collector/internal/testdeps"
)

// TestPreviewGitLabCatalogue runs the built binary as an operator would:
// `collector seed` creates the GitLab-schema instance, then
// `collector preview` over GitLab's reference pack plus one definition
// naming a class nobody defined. Every metric but that one and
// settings.gitaly_apdex (no Prometheus) has a real value, and the log
// names the unknown class.
func TestPreviewGitLabCatalogue(t *testing.T) {
	bin := clitest.Build(t)
	dbURL, _ := testdeps.Postgres(t)
	_, prefix := testdeps.Redis(t)
	testdata, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	defs := t.TempDir()
	if err := os.CopyFS(defs, os.DirFS(filepath.Join(testdata, "gitlab", "metrics"))); err != nil {
		t.Fatal(err)
	}
	unknown := `---
key_path: counts.widgets_built
description: widgets
product_group: analytics_instrumentation
value_type: number
status: active
milestone: "18.0"
introduced_by_url: https://gitlab.com/gitlab-org/gitlab/-/merge_requests/1
time_frame: all
data_source: database
data_category: optional
instrumentation_class: WidgetFactoryOutputMetric
tiers: [free]
`
	if err := os.WriteFile(filepath.Join(defs, "zz_unknown_class.yml"), []byte(unknown), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(testdata, "collector", "config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(cfgFile, []byte(strings.ReplaceAll(string(cfg), "testdata/", testdata+"/")), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := clitest.Run(t, bin, nil, "seed", "--database-url", dbURL, "--builds", "5000"); r.Code != 0 {
		t.Fatalf("seed: exit %d\n%s", r.Code, r.Stderr)
	}
	env := []string{"COLLECTOR_REDIS_PREFIX=" + prefix, "COLLECTOR_DATA_DIR=" + t.TempDir()}
	r := clitest.Run(t, bin, env, "preview", "--config", cfgFile, "--definitions", defs,
		"--database-url", dbURL, "--redis-url", testdeps.RedisURL(t))
	if r.Code != 0 {
		t.Fatalf("preview: exit %d\n%s", r.Code, r.Stderr)
	}
	var payload map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &payload); err != nil {
		t.Fatalf("preview output is not JSON: %v\n%.500s", err, r.Stdout)
	}
	var fallbacks []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, c)
			}
		case float64:
			if x == -1 || x == -2 {
				fallbacks = append(fallbacks, prefix)
			}
		}
	}
	walk("", payload)
	sort.Strings(fallbacks)
	if strings.Join(fallbacks, ",") != "counts.widgets_built,settings.gitaly_apdex" {
		t.Errorf("fallbacks in the preview: %v", fallbacks)
	}
	if !strings.Contains(r.Stderr, "instrumentation class unknown to the collector") || !strings.Contains(r.Stderr, "WidgetFactoryOutputMetric") {
		t.Errorf("the log does not name the unknown class:\n%s", r.Stderr)
	}
}
