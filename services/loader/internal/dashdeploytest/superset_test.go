//go:build superset

package dashdeploytest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.yaml.in/yaml/v3"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/cli/clitest"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

// The Superset tests start the real `make superset` (deploy/superset/superset.sh):
// its virtualenv is built once into the cache, so a cold run takes a few
// minutes. They are behind the build tag superset and run by `make
// test-dashboards` (CI runs it after `make test`).

const (
	supersetAdmin    = "dashboards-test"
	supersetPassword = "not-the-default"
	// supersetTimeout bounds one test: provisioning twice (a fresh metadata
	// database, about two minutes), then every dashboard in Chromium.
	supersetTimeout = 12 * time.Minute
)

// bundle is what deploy/superset/bundle holds.
type bundle struct {
	dashboards map[string]bundleDashboard // by slug
	charts     []string                   // slice names
	datasets   []string                   // schema.table
	databases  []string
}

type bundleDashboard struct {
	Title    string         `yaml:"dashboard_title"`
	Slug     string         `yaml:"slug"`
	Position map[string]any `yaml:"position"`
}

// chartIDs are the position's chart components (CHART-…).
func (d bundleDashboard) chartIDs() []string {
	var ids []string
	for id := range d.Position {
		if strings.HasPrefix(id, "CHART-") {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func readBundle(t *testing.T) bundle {
	t.Helper()
	dir := filepath.Join(repoRoot(), "deploy", "superset", "bundle")
	b := bundle{dashboards: map[string]bundleDashboard{}}
	yamls := func(sub string) string { return filepath.Join(dir, sub, "*.yaml") }
	decodeEach(t, yamls("dashboards"), yaml.Unmarshal, func(_ string, d bundleDashboard) {
		b.dashboards[d.Slug] = d
	})
	decodeEach(t, yamls("charts"), yaml.Unmarshal, func(_ string, c struct {
		Name string `yaml:"slice_name"`
	}) {
		b.charts = append(b.charts, c.Name)
	})
	decodeEach(t, yamls("datasets/*"), yaml.Unmarshal, func(_ string, d struct {
		Schema string `yaml:"schema"`
		Table  string `yaml:"table_name"`
	}) {
		b.datasets = append(b.datasets, d.Schema+"."+d.Table)
	})
	decodeEach(t, yamls("databases"), yaml.Unmarshal, func(_ string, d struct {
		Name string `yaml:"database_name"`
	}) {
		b.databases = append(b.databases, d.Name)
	})
	return b
}

// superset runs deploy/superset/superset.sh MODE with the test's settings.
type superset struct {
	listen string
	env    []string
	logs   string
}

func newSuperset(t *testing.T, clickhouseURL string) *superset {
	t.Helper()
	data := t.TempDir()
	s := &superset{listen: clitest.ClosedAddr(t), logs: t.TempDir()}
	s.env = append(cleanEnv(),
		"CLICKHOUSE_URL="+clickhouseURL,
		"SUPERSET_LISTEN="+s.listen,
		"SUPERSET_DATA_DIR="+data,
		"SUPERSET_ADMIN_USER="+supersetAdmin,
		"SUPERSET_ADMIN_PASSWORD="+supersetPassword,
	)
	return s
}

func (s *superset) command(ctx context.Context, mode string, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(), "deploy", "superset", "superset.sh"), mode)
	cmd.Env = append(slices.Clone(s.env), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	return cmd
}

// provision runs `superset.sh provision` and fails the test unless it succeeds.
func (s *superset) provision(ctx context.Context, t *testing.T) {
	t.Helper()
	start := time.Now()
	out, err := s.command(ctx, "provision").CombinedOutput()
	if err != nil {
		t.Fatalf("superset.sh provision: %v\n%s", err, tail(string(out), 8000))
	}
	t.Logf("superset.sh provision: %s", time.Since(start).Round(time.Second))
}

// serve starts `superset.sh serve` (provisioning again, then gunicorn) and
// waits until Superset answers /health; it is stopped when the test ends.
func (s *superset) serve(ctx context.Context, t *testing.T) string {
	t.Helper()
	logPath := filepath.Join(s.logs, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := s.command(ctx, "serve")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start superset.sh: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
	})
	base := "http://" + s.listen
	showLog := func() string { b, _ := os.ReadFile(logPath); return tail(string(b), 8000) }
	testinfra.Eventually(t, 8*time.Minute, "Superset answering "+base+"/health", func() error {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("superset.sh serve exited: %v\n%s", err, showLog())
		default:
		}
		resp, err := http.Get(base + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /health: %s", resp.Status)
		}
		return nil
	})
	t.Logf("superset.sh serve: answering on %s after %s", base, time.Since(start).Round(time.Second))
	return base
}

// api is Superset's REST API as the admin.
type api struct {
	base, token string
}

func login(t *testing.T, base string) api {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"username": supersetAdmin, "password": supersetPassword, "provider": "db"})
	resp, err := http.Post(base+"/api/v1/security/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		t.Fatalf("log in as %s (the SUPERSET_ADMIN_* the test set): %s %v", supersetAdmin, resp.Status, err)
	}
	return api{base: base, token: out.Token}
}

// list returns the field of every object of a collection (chart,
// dashboard, dataset, database).
func (a api) list(t *testing.T, collection, field string) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.base+"/api/v1/"+collection+"/?q=(page_size:100)", nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out struct {
		Count  int              `json:"count"`
		Result []map[string]any `json:"result"`
	}
	if err := json.Unmarshal(data, &out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/%s/: %s %v\n%s", collection, resp.Status, err, tail(string(data), 2000))
	}
	if out.Count != len(out.Result) {
		t.Fatalf("GET /api/v1/%s/: count %d but %d results (more than a page?)", collection, out.Count, len(out.Result))
	}
	var names []string
	for _, r := range out.Result {
		names = append(names, fmt.Sprint(r[field]))
	}
	slices.Sort(names)
	return names
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestSuperset runs `make superset` against a warehouse holding the fleet
// and its marts: provisioning twice (superset.sh provision, then serve)
// leaves exactly the bundle's objects, once each; then headless Chromium
// logs in and opens every dashboard, and each of its charts must have
// drawn data (a painted canvas, SVG shapes, table rows or a big number)
// with no error or empty-result message. Screenshots go to
// SERVICEPING_SCREENSHOTS (default: a folder under the system's temporary
// directory, logged).
func TestSuperset(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), supersetTimeout)
	defer cancel()
	chromium := testinfra.Env(t, "SERVICEPING_CHROMIUM")
	endpoint := fleetWarehouse(t)
	b := readBundle(t)

	s := newSuperset(t, endpoint+"/"+sourceDB)
	s.provision(ctx, t)
	base := s.serve(ctx, t)

	t.Run("import is idempotent", func(t *testing.T) {
		a := login(t, base)
		var slugs []string
		for slug := range b.dashboards {
			slugs = append(slugs, slug)
		}
		for _, c := range []struct {
			collection, field string
			want              []string
		}{
			{"dashboard", "slug", slugs},
			{"chart", "slice_name", b.charts},
			{"dataset", "table_name", tables(b.datasets)},
			{"database", "database_name", b.databases},
		} {
			if got, want := a.list(t, c.collection, c.field), sorted(c.want); !slices.Equal(got, want) {
				t.Errorf("after two imports Superset has the %ss %q, want the bundle's, once each: %q", c.collection, got, want)
			}
		}
	})

	t.Run("dashboards drawn in Chromium", func(t *testing.T) {
		br := newBrowser(t, chromium)
		br.login(ctx, t, base)
		shown := map[string]string{} // big number charts: what they show
		for _, slug := range sorted(keys(b.dashboards)) {
			d := b.dashboards[slug]
			charts := br.dashboard(ctx, t, base, d)
			for _, c := range charts {
				if c.BigNumber != "" {
					shown[c.Name] = c.BigNumber
				}
			}
			t.Logf("%s: %d charts drawn (%s)", slug, len(charts), filepath.Join(br.dir, slug+".png"))
		}
		// The figures the big numbers show are the warehouse's, queried here
		// on their own.
		for name := range shown {
			if _, ok := bigNumbers[name]; !ok {
				t.Errorf("big number chart %q has no figure to compare with in bigNumbers", name)
			}
		}
		conn := chtest.Conn(t, martDB)
		for name, sql := range bigNumbers {
			var want string
			if err := conn.QueryRow(ctx, sql).Scan(&want); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
			if shown[name] != want {
				t.Errorf("chart %q shows %q, the warehouse says %q (%s)", name, shown[name], want, sql)
			}
		}
	})
}

// bigNumbers are the big number charts of the bundle and the query that
// gives, formatted as the chart formats it, the figure each must show.
var bigNumbers = map[string]string{
	"Installations reporting":  "SELECT toString(uniqExact(dim_installation_id)) FROM dim_ping_instance",
	"Pings received":           "SELECT toString(count()) FROM dim_ping_instance",
	"Scored instances":         "SELECT toString(uniqExact(uuid)) FROM mart_devops_score",
	"Licensed seats":           "SELECT toString(sum(license_user_count)) FROM mart_license_utilization",
	"Active users on licenses": "SELECT toString(sum(active_users)) FROM mart_license_utilization",
	"Overall utilization":      "SELECT concat(toString(round(100 * sum(active_users) / sum(license_user_count))), '%') FROM mart_license_utilization",
}

func tables(qualified []string) []string {
	var out []string
	for _, q := range qualified {
		_, table, _ := strings.Cut(q, ".")
		out = append(out, table)
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestSupersetStartFailures: `make superset` stops at once, non-zero, with
// one line saying what is wrong, when its port is taken, when the
// warehouse does not answer and when the warehouse has no marts.
func TestSupersetStartFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), supersetTimeout)
	defer cancel()
	endpoint := fleetWarehouse(t)

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	closed := clitest.ClosedAddr(t) // nothing listens there

	for _, c := range []struct {
		name, url string
		env       []string
		want      string
	}{
		{"port taken", endpoint + "/" + sourceDB, []string{"SUPERSET_LISTEN=" + taken.Addr().String()},
			taken.Addr().String() + " is already in use"},
		{"warehouse down", "http://" + closed + "/" + sourceDB, nil,
			"the warehouse at http://" + closed + "/" + sourceDB + " does not answer"},
		{"no marts", endpoint + "/no_such_db", nil,
			"lacks no_such_db.ping_errors, no_such_db.pings_latest: load pings there (make run) and build the marts (make dbt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSuperset(t, c.url)
			start := time.Now()
			out, err := s.command(ctx, "serve", c.env...).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("superset.sh serve: %v, want a non-zero exit\n%s", err, tail(string(out), 4000))
			}
			last := lastLine(string(out))
			if !strings.HasPrefix(last, "superset: ") || !strings.Contains(last, c.want) {
				t.Errorf("superset.sh serve ended with %q, want a line saying %q\n%s", last, c.want, tail(string(out), 4000))
			}
			t.Logf("exit %d after %s: %s", exit.ExitCode(), time.Since(start).Round(time.Millisecond), last)
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// browser is one headless Chromium.
type browser struct {
	ctx context.Context
	dir string
}

func newBrowser(t *testing.T, exe string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests run as root
		chromedp.WindowSize(1400, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser, which lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	dir := os.Getenv("SERVICEPING_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "serviceping-screenshots")
	}
	dir = filepath.Join(dir, "superset")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return &browser{ctx: ctx, dir: dir}
}

// within runs action on the browser's tab, bounded by ctx's deadline and d.
func within[T any](ctx context.Context, b *browser, d time.Duration, action chromedp.Action[T]) (T, error) {
	tctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	return chromedp.Run(tctx, action)
}

// login signs in through Superset's login form, as a person would. The
// form is React's: on a loaded machine a submit can come before the page
// handles it, so a form still shown 30 s after submitting is filled in
// again, up to three times (each attempt logged).
func (b *browser) login(ctx context.Context, t *testing.T, base string) {
	t.Helper()
	var at string
	for try := 1; try <= 3; try++ {
		_, err := within(ctx, b, time.Minute, chromedp.Steps(
			chromedp.Navigate(base+"/login/"),
			chromedp.WaitVisible(chromedp.CSS("#username")),
			chromedp.WaitEnabled(chromedp.CSS(`button[type="submit"]`)),
			chromedp.SendKeys(chromedp.CSS("#username"), supersetAdmin),
			chromedp.SendKeys(chromedp.CSS("#password"), supersetPassword),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		))
		if err != nil {
			t.Fatalf("log in to Superset in Chromium: %v", err)
		}
		// Logged in: the browser has left the login page (it navigates, so
		// the location is read afresh each time).
		if at, err = b.leaveLogin(ctx, 30*time.Second); err == nil {
			return
		}
		t.Logf("log in, attempt %d: %v; %s", try, err, b.loginPage(ctx, try))
	}
	t.Fatalf("could not log in to Superset as %s: still on %s", supersetAdmin, at)
}

// loginPage says what the login page showed after a failed attempt: the
// text of its alerts (a refused password, a rate limit) and where its
// screenshot was saved.
func (b *browser) loginPage(ctx context.Context, try int) string {
	alerts, err := within(ctx, b, 5*time.Second, chromedp.Evaluate[string](
		`Array.from(document.querySelectorAll('[role=alert], .ant-alert, .alert, .ant-form-item-explain')).map(e => e.innerText.trim()).filter(Boolean).join(" | ")`))
	if err != nil {
		alerts = "alerts not read: " + err.Error()
	} else if alerts == "" {
		alerts = "no alert shown"
	}
	png, err := within(ctx, b, 10*time.Second, chromedp.CaptureScreenshot())
	if err != nil {
		return alerts + "; no screenshot: " + err.Error()
	}
	shot := filepath.Join(b.dir, fmt.Sprintf("login-attempt-%d.png", try))
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		return alerts + "; no screenshot: " + err.Error()
	}
	return alerts + "; screenshot " + shot
}

// leaveLogin polls the tab's location until it is not the login page, for
// at most d; it returns the last location seen.
func (b *browser) leaveLogin(ctx context.Context, d time.Duration) (string, error) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d)
	var at string
	for {
		loc, err := within(ctx, b, 5*time.Second, chromedp.Location())
		if err == nil {
			at = loc
			if !strings.Contains(loc, "/login") {
				return at, nil
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			return at, fmt.Errorf("still on %s after %s (%v)", at, d, err)
		case <-ctx.Done():
			return at, ctx.Err()
		}
	}
}

// drawn is what a dashboard's chart holders show.
type drawn struct {
	Title   string       `json:"title"`
	Charts  []chartDrawn `json:"charts"`
	Errors  []string     `json:"errors"`
	Loading int          `json:"loading"`
	// Bottom is where the last chart ends, in CSS pixels from the top.
	Bottom int `json:"bottom"`
}

type chartDrawn struct {
	Name          string `json:"name"`
	PaintedCanvas int    `json:"paintedCanvas"`
	SVGShapes     int    `json:"svgShapes"`
	TableRows     int    `json:"tableRows"`
	BigNumber     string `json:"bigNumber"`
	Problem       string `json:"problem"`
}

func (c chartDrawn) hasData() bool {
	return c.Problem == "" && (c.PaintedCanvas > 0 || c.SVGShapes > 0 || c.TableRows > 0 || c.BigNumber != "")
}

// measureDashboard reads every chart holder of a Superset dashboard.
const measureDashboard = `(() => {
  const painted = (cv) => {
    try {
      const ctx = cv.getContext("2d");
      if (!ctx || cv.width === 0 || cv.height === 0) return false;
      const px = ctx.getImageData(0, 0, cv.width, cv.height).data;
      for (let i = 3; i < px.length; i += 4 * 7) if (px[i] !== 0) return true;
    } catch (e) { return false; }
    return false;
  };
  const charts = [];
  for (const h of document.querySelectorAll(".dashboard-component-chart-holder")) {
    const title = h.querySelector("[data-test='editable-title'], .header-title, [data-test='slice-header'] .editable-title");
    const err = h.querySelector("[role='alert'], .ant-alert-error, [data-test='error-tooltip'], .error-message");
    const text = h.innerText || "";
    let problem = "";
    if (err) problem = "error: " + err.innerText.trim().slice(0, 200);
    else if (/No results were returned|No data/i.test(text)) problem = "empty: " + text.trim().slice(0, 200);
    const big = h.querySelector(".header-line");
    charts.push({
      name: title ? title.innerText.trim() : "",
      paintedCanvas: [...h.querySelectorAll("canvas")].filter(painted).length,
      svgShapes: h.querySelectorAll("svg path, svg rect, svg circle").length - h.querySelectorAll("[data-test='slice-header'] svg path, .ant-dropdown-trigger svg path").length,
      tableRows: h.querySelectorAll("table tbody tr").length,
      bigNumber: big ? big.innerText.trim() : "",
      problem,
    });
  }
  return {
    title: (document.querySelector("[data-test='editable-title-input'], [data-test='dashboard-header-container'] [data-test='editable-title']") || {}).innerText || document.title,
    charts,
    errors: [...document.querySelectorAll(".ant-alert-error, [data-test='toast-container'] .toast--danger")].map((e) => e.innerText.trim()),
    loading: document.querySelectorAll("[aria-label='Loading'], .loading, [data-test='loading-indicator']").length,
    bottom: Math.ceil(Math.max(0, ...[...document.querySelectorAll(".dashboard-component-chart-holder")].map((h) => h.getBoundingClientRect().bottom + window.scrollY))),
  };
})()`

// dashboard opens /superset/dashboard/SLUG/, waits until every chart of
// the bundle's dashboard has drawn (or a minute has passed), saves a
// screenshot and fails t for every chart without data.
func (b *browser) dashboard(ctx context.Context, t *testing.T, base string, d bundleDashboard) []chartDrawn {
	t.Helper()
	want := len(d.chartIDs())
	url := base + "/superset/dashboard/" + d.Slug + "/"
	if _, err := within(ctx, b, time.Minute, chromedp.Steps(chromedp.ResetViewport(), chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(".dashboard-component-chart-holder")))); err != nil {
		t.Fatalf("open %s in Chromium: %v", url, err)
	}
	// The whole grid in the viewport (its rows have their heights before
	// the charts draw): every chart renders, and the screenshot needs no
	// resize that would make them draw again.
	height, err := within(ctx, b, 10*time.Second, chromedp.Evaluate[int64](`document.documentElement.scrollHeight`))
	if err == nil {
		_, err = within(ctx, b, 10*time.Second, chromedp.EmulateViewport(1400, max(height, 900)))
	}
	if err != nil {
		t.Fatalf("fit %s in the viewport: %v", url, err)
	}
	// Polled in the page until every chart has drawn or said why not, and
	// its canvases stopped changing between two polls (ECharts animates
	// its series in).
	done := fmt.Sprintf(`((m) => {
	  const sig = [...document.querySelectorAll(".dashboard-component-chart-holder canvas")].map((c) => c.toDataURL()).join("|");
	  const still = window.__dashSig === sig;
	  window.__dashSig = sig;
	  return still && m.loading === 0 && m.charts.length === %d && m.charts.every((c) =>
	    c.problem !== "" || c.paintedCanvas > 0 || c.svgShapes > 0 || c.tableRows > 0 || c.bigNumber !== "");
	})(%s)`, want, measureDashboard)
	_, waitErr := within(ctx, b, 100*time.Second, chromedp.Poll[bool](done, chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingInterval(500*time.Millisecond)))
	got, err := within(ctx, b, 30*time.Second, chromedp.Evaluate[drawn](measureDashboard))
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	if waitErr != nil {
		t.Errorf("%s: charts not all drawn after 90s (%v): %+v", url, waitErr, got)
	}
	shotPNG, err := within(ctx, b, 30*time.Second, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", url, err)
	}
	shot := filepath.Join(b.dir, d.Slug+".png")
	if err := writeCropped(shot, shotPNG, got.Bottom+16); err != nil {
		t.Fatalf("screenshot %s: %v", url, err)
	}
	if len(got.Errors) > 0 {
		t.Errorf("%s: error messages on the page: %q (screenshot %s)", url, got.Errors, shot)
	}
	if len(got.Charts) != want {
		t.Errorf("%s: %d charts on the page, want the bundle's %d (screenshot %s)", url, len(got.Charts), want, shot)
	}
	for _, c := range got.Charts {
		if !c.hasData() {
			t.Errorf("%s: chart %q drew no data: %+v (screenshot %s)", url, c.Name, c, shot)
		}
	}
	return got.Charts
}

// writeCropped writes the PNG data to path, cut below height pixels (the
// viewport was made taller than the dashboard).
func writeCropped(path string, data []byte, height int) error {
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return err
	}
	r := img.Bounds()
	if height > 0 && height < r.Dy() {
		if sub, ok := img.(interface {
			SubImage(image.Rectangle) image.Image
		}); ok {
			img = sub.SubImage(image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+height))
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
