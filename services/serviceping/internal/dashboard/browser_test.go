package dashboard_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/serviceping/internal/dashboard"
	"github.com/serviceping/serviceping/services/serviceping/internal/dashboard/dashboardtest"
)

// TestPagesInBrowser opens the root page and every page in headless
// Chromium against the fleet's marts and the services' live counters:
// the root page links every page, and on each page every chart drew data
// and no error banner shows. The screenshots are saved (one per page).
func TestPagesInBrowser(t *testing.T) {
	_, marts := fleetMarts(t)
	assets := testinfra.Env(t, "UI_ASSETS")
	d := start(t, marts, assets, dashboard.Scrape{URLs: liveMetrics(t)}, nil)
	b := dashboardtest.NewBrowser(t)

	root := b.Open(t, d.URL+"/", "index")
	for _, p := range dashboard.Pages() {
		if !slices.Contains(root.Links, p.Path) {
			t.Errorf("the root page does not link %s (links: %v)", p.Path, root.Links)
		}
	}
	for _, p := range dashboard.Pages() {
		name := strings.TrimPrefix(p.Path, "/")
		page := b.Open(t, d.URL+p.Path, name)
		dashboardtest.CheckDrawn(t, p.Path, page, p.Charts)
		if len(page.Charts) != len(p.Charts) {
			t.Errorf("%s shows charts %v, want %v", p.Path, page.Charts, p.Charts)
		}
	}
}

// TestPagesWithoutMarts: before `make dbt` every page says so in its
// banner, and draws nothing.
func TestPagesWithoutMarts(t *testing.T) {
	fleetMarts(t)
	d := start(t, chtest.Database(t, "dash_nomarts"), testinfra.Env(t, "UI_ASSETS"), nil, nil)
	b := dashboardtest.NewBrowser(t)
	for _, p := range dashboard.Pages() {
		page := b.Open(t, d.URL+p.Path, "nomarts-"+strings.TrimPrefix(p.Path, "/"))
		if page.State != "error" || !slices.Contains(page.Banners, dashboard.MartsMissing) {
			t.Errorf("%s without marts: state %q, banners %q; want error with %q", p.Path, page.State, page.Banners, dashboard.MartsMissing)
		}
	}
}

// TestChartLibraryMissing: without the chart library in the assets
// directory the pages and the log name the make target that fetches it.
func TestChartLibraryMissing(t *testing.T) {
	_, marts := fleetMarts(t)
	var log testinfra.Buffer
	d := start(t, marts, t.TempDir(), nil, slog.New(slog.NewTextHandler(&log, nil)))
	if !strings.Contains(log.String(), dashboard.AssetsTarget) {
		t.Errorf("log does not name %s:\n%s", dashboard.AssetsTarget, log.String())
	}
	for _, p := range append([]string{"/"}, pagePaths()...) {
		resp, err := http.Get(d.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`id="assets-missing"`)) || !bytes.Contains(body, []byte(dashboard.AssetsTarget)) {
			t.Errorf("%s without the chart library: %d, no banner naming %s", p, resp.StatusCode, dashboard.AssetsTarget)
		}
	}
	resp, err := http.Get(d.URL + "/assets/" + dashboard.ChartLibrary)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing chart library served with %d, want 404", resp.StatusCode)
	}

	b := dashboardtest.NewBrowser(t)
	page := b.Open(t, d.URL+"/adoption", "no-chart-library")
	if page.State != "error" || len(page.Banners) == 0 || !strings.Contains(strings.Join(page.Banners, " "), dashboard.AssetsTarget) {
		t.Errorf("/adoption without the chart library: state %q, banners %q; want an error naming %s", page.State, page.Banners, dashboard.AssetsTarget)
	}
}

func pagePaths() []string {
	var out []string
	for _, p := range dashboard.Pages() {
		out = append(out, p.Path)
	}
	return out
}
