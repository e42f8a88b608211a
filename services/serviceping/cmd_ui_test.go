package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/serviceping/serviceping/services/serviceping/internal/dashboard"
)

// TestEChartsVersionMatchesScript: the Go lookup and
// scripts/fetch-ui-assets.sh agree on the pinned echarts version, so
// `make ui-assets` caches what the dashboard finds.
func TestEChartsVersionMatchesScript(t *testing.T) {
	t.Parallel()
	if got := scriptPin(t, "fetch-ui-assets.sh", "ECHARTS_VERSION"); got != dashboard.ECharts {
		t.Errorf("scripts/fetch-ui-assets.sh pins %s, dashboard.ECharts is %s", got, dashboard.ECharts)
	}
}

// TestFindUIAssets: UI_ASSETS when it holds the library, else the cache
// directory the script fills (which may not hold it yet).
func TestFindUIAssets(t *testing.T) {
	t.Parallel()
	full, empty := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(full, dashboard.ChartLibrary), []byte("//"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	cached := filepath.Join("/c", "ui", "echarts", dashboard.ECharts)
	for _, c := range []struct {
		name, dir string
		env       map[string]string
		want      string
	}{
		{"UI_ASSETS holds it", full, map[string]string{"SERVICEPING_CACHE": "/c"}, full},
		{"UI_ASSETS without it", empty, map[string]string{"SERVICEPING_CACHE": "/c"}, cached},
		{"unset", "", map[string]string{"SERVICEPING_CACHE": "/c"}, cached},
		{"XDG cache and version", "", map[string]string{"XDG_CACHE_HOME": "/x", "ECHARTS_VERSION": "9.9.9"}, "/x/serviceping/ui/echarts/9.9.9"},
		{"home", "", map[string]string{"HOME": "/h"}, "/h/.cache/serviceping/ui/echarts/" + dashboard.ECharts},
	} {
		if got := findUIAssets(c.dir, env(c.env)); got != c.want {
			t.Errorf("%s: findUIAssets = %s, want %s", c.name, got, c.want)
		}
	}
}

// TestSameAddress: --ui may not be the gateway's address.
func TestSameAddress(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{":8080", "127.0.0.1:8080", true},
		{"0.0.0.0:8080", "localhost:8080", true},
		{"[::]:8080", "127.0.0.1:8080", true},
		{"127.0.0.1:8081", "127.0.0.1:8080", false},
		{"127.0.0.1:0", "127.0.0.1:0", false},
		{"10.0.0.1:8080", "127.0.0.1:8080", false},
	} {
		if got := sameAddress(c.a, c.b); got != c.want {
			t.Errorf("sameAddress(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
