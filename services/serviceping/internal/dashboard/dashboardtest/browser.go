// Package dashboardtest opens the built-in dashboard's pages in headless
// Chromium (the Debian package; SERVICEPING_CHROMIUM from
// scripts/test-env.sh) for the dashboard's and the all-in-one's tests:
// it waits until a page has drawn, checks that every chart drew data and
// no error banner is shown, and saves a screenshot.
package dashboardtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/serviceping/serviceping/pkg/testinfra"
)

// ScreenshotsEnv names the directory the screenshots go to; by default a
// directory under the test's temporary directory (logged).
const ScreenshotsEnv = "SERVICEPING_SCREENSHOTS"

// Browser is one headless Chromium for a test.
type Browser struct {
	ctx         context.Context
	screenshots string
}

// NewBrowser starts Chromium; it stops when the test ends.
func NewBrowser(t testing.TB) *Browser {
	t.Helper()
	exe := testinfra.Env(t, "SERVICEPING_CHROMIUM")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests run as root
		chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser, which lives as long as the
	// context of that action: ctx, not one with a deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s (set %s to keep them elsewhere)", dir, ScreenshotsEnv)
	return &Browser{ctx: ctx, screenshots: dir}
}

// Page is what a page showed once it had drawn.
type Page struct {
	// State is body[data-state]: "ready" or "error".
	State string
	// Banners are the texts of the page's visible error banners.
	Banners []string
	// Charts are the page's charts by id.
	Charts map[string]Chart
	// Links are the hrefs of the page's links.
	Links []string
	// Text is the page's visible text.
	Text string
	// Screenshot is the PNG's path.
	Screenshot string
}

// Chart is one chart element: the data points the page says it drew, the
// data points ECharts holds in its series, and the shapes of its SVG.
type Chart struct {
	Points       int `json:"points"`
	SeriesPoints int `json:"seriesPoints"`
	SVGShapes    int `json:"svgShapes"`
}

// measured is what measure returns.
type measured struct {
	State   string           `json:"state"`
	Banners []string         `json:"banners"`
	Charts  map[string]Chart `json:"charts"`
	Links   []string         `json:"links"`
	Text    string           `json:"text"`
}

// measure reads a drawn page (the dashboard.js contract: body[data-state],
// [data-chart] elements with data-points).
const measure = `(() => {
  const charts = {};
  for (const el of document.querySelectorAll("[data-chart]")) {
    const inst = window.echarts && echarts.getInstanceByDom(el);
    let seriesPoints = 0;
    if (inst) for (const s of inst.getOption().series) seriesPoints += (s.data || []).filter((v) => v != null).length;
    charts[el.dataset.chart] = {
      points: Number(el.dataset.points || 0),
      seriesPoints,
      svgShapes: el.querySelectorAll("svg path, svg rect, svg circle").length,
    };
  }
  return {
    state: document.body.dataset.state,
    banners: [...document.querySelectorAll(".banner.error")].filter((b) => !b.hidden).map((b) => b.textContent.trim()),
    charts,
    links: [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")),
    text: document.body.innerText,
  };
})()`

// Open loads url, waits until it has drawn (body[data-state] is no longer
// "loading"), reads it and saves a full-page screenshot as name.png.
func (b *Browser) Open(t testing.TB, url, name string) Page {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`body:not([data-state="loading"])`)))
	if err != nil {
		t.Fatalf("open %s in Chromium: %v", url, err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[measured](measure))
	if err != nil {
		t.Fatalf("read %s in Chromium: %v", url, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s in Chromium: %v", url, err)
	}
	p := Page{State: got.State, Banners: got.Banners, Charts: got.Charts, Links: got.Links, Text: got.Text,
		Screenshot: filepath.Join(b.screenshots, name+".png")}
	if err := os.WriteFile(p.Screenshot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// CheckDrawn fails t unless the page is ready without an error banner and
// every one of its charts (want: their ids) drew data.
func CheckDrawn(t testing.TB, url string, p Page, want []string) {
	t.Helper()
	if p.State != "ready" || len(p.Banners) > 0 {
		t.Errorf("%s: state %q, error banners %q; want ready without any", url, p.State, p.Banners)
	}
	var missing []string
	for _, id := range want {
		c, ok := p.Charts[id]
		switch {
		case !ok:
			missing = append(missing, id+" (absent)")
		case c.Points == 0 || c.SeriesPoints == 0 || c.SVGShapes == 0:
			missing = append(missing, fmt.Sprintf("%s (%d points, %d in its series, %d SVG shapes)", id, c.Points, c.SeriesPoints, c.SVGShapes))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: charts without data: %s (screenshot %s)", url, strings.Join(missing, ", "), p.Screenshot)
	}
}
