package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/cli/clitest"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/serviceping/internal/dashboard"
	"github.com/serviceping/serviceping/services/serviceping/internal/dashboard/dashboardtest"
)

// TestRunDashboardAfterDemo runs `serviceping run` as make run does (free
// ports): it prints the dashboard's address, loads the demo pings, builds
// the marts with scripts/dbt.sh, and then every page of the dashboard
// draws data in every chart in headless Chromium.
func TestRunDashboardAfterDemo(t *testing.T) {
	testinfra.Env(t, "CHDB_LIB")
	testinfra.Env(t, "SERVICEPING_DBT")
	assets := testinfra.Env(t, "UI_ASSETS")
	bin := clitest.Build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0",
		"--clickhouse-listen", "127.0.0.1:0", "--ui", "127.0.0.1:0", "--ui-assets", assets,
		"--testdata", "../../testdata", "--dbt-script", "../../scripts/dbt.sh")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	var mu sync.Mutex
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			lines <- sc.Text()
		}
		close(lines)
	}()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("stdout:\n%s\nstderr (tail):\n%s", out.String(), tail(stderr.String(), 4000))
			mu.Unlock()
		}
	}()

	address := regexp.MustCompile(`^  dashboard +(http://127\.0\.0\.1:\d+) `)
	gatewayRE := regexp.MustCompile(`^  gateway +(http://127\.0\.0\.1:\d+) `)
	var ui, gw string
	built := false
	for !built {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serviceping run ended before the marts were built")
			}
			if m := address.FindStringSubmatch(l); m != nil {
				ui = m[1]
			}
			if m := gatewayRE.FindStringSubmatch(l); m != nil {
				gw = m[1]
			}
			if strings.Contains(l, "marts not built") || strings.Contains(l, "dbt build failed") {
				t.Fatalf("serviceping run: %s", l)
			}
			built = strings.HasPrefix(l, "marts built")
		case <-ctx.Done():
			t.Fatal("serviceping run did not build the marts in time")
		}
	}
	if ui == "" || gw == "" {
		t.Fatalf("serviceping run printed no dashboard or gateway address")
	}

	// One rejected request, so the health page has a reason to chart.
	resp, err := http.Post(gw+"/usage_data", "application/json", strings.NewReader("{not json"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 4 {
		t.Fatalf("a malformed ping was answered %d, want 4xx", resp.StatusCode)
	}

	b := dashboardtest.NewBrowser(t)
	for _, p := range dashboard.Pages() {
		page := b.Open(t, ui+p.Path, "run-"+strings.TrimPrefix(p.Path, "/"))
		if p.Path != "/licenses" {
			dashboardtest.CheckDrawn(t, ui+p.Path, page, p.Charts)
			continue
		}
		// The all-in-one has no license directory (DIRECTORY_URL): no ping
		// is matched to a subscription, and the page says so.
		if page.State != "ready" || len(page.Banners) > 0 || page.Charts["utilization"].Points != 0 || !strings.Contains(page.Text, "DIRECTORY_URL") {
			t.Errorf("/licenses without a license directory: %+v, want ready, empty charts naming DIRECTORY_URL", page)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
