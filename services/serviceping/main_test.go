package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/serviceping/serviceping/pkg/cli/clitest"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

// commandNames are serviceping's commands.
var commandNames = []string{"run", "send", "loadgen", "query", "reenrich", "replay", "warehouse", "migrate", "run-cluster", "dlq", "lake", "ui"}

// TestCommandLine runs the built binary. --help, --version and usage errors
// answer at once and start nothing: NATS_URL, CLICKHOUSE_URL and
// GATEWAY_URL point at a closed port, so a started pipeline or a command
// that connected would wait or fail instead. Commands take their flags
// before or after their arguments.
func TestCommandLine(t *testing.T) {
	bin := clitest.Build(t)
	payload, err := filepath.Abs("../../testdata/payloads/docs_example.json")
	if err != nil {
		t.Fatal(err)
	}
	gw := fakeGateway(t)
	noLib := []string{"CHDB_LIB=", "CLICKHOUSE_URL=", "SERVICEPING_CACHE=" + t.TempDir()}
	cases := append(clitest.Standard("serviceping", commandNames...),
		clitest.Case{Name: "no command", Code: 2, Stderr: "Usage: serviceping <command>", Quiet: true},
		clitest.Case{Name: "unknown command", Args: []string{"serve"}, Code: 2, Stderr: "unexpected argument serve", Quiet: true},
		clitest.Case{Name: "help lists the commands", Args: []string{"--help"}, Stdout: "warehouse [flags]", Quiet: true},
		clitest.Case{Name: "run help names the variables", Args: []string{"run", "--help"}, Stdout: "$CLICKHOUSE_LISTEN", Quiet: true},
		clitest.Case{Name: "run help names the dashboard's variable", Args: []string{"run", "--help"}, Stdout: "$UI_LISTEN", Quiet: true},
		clitest.Case{Name: "ui help names the marts' variable", Args: []string{"ui", "--help"}, Stdout: "$DBT_CLICKHOUSE_SCHEMA", Quiet: true},
		clitest.Case{Name: "ui unreachable warehouse", Args: []string{"ui", "--listen", "127.0.0.1:0"}, Code: 1, Stderr: "connection refused", Quiet: true},
		clitest.Case{Name: "run without the library", Args: []string{"run", "--data", t.TempDir()}, Env: noLib, Code: 1, Stderr: "run `make chdb`", Quiet: true},
		clitest.Case{Name: "warehouse without the library", Args: []string{"warehouse", "--listen", "127.0.0.1:0", "--path", t.TempDir()}, Env: noLib, Code: 1, Stderr: "run `make chdb`", Quiet: true},
		clitest.Case{Name: "query without SQL", Args: []string{"query", "--format", "csv"}, Code: 2, Stderr: `expected "<sql>"`, Quiet: true},
		clitest.Case{Name: "query with two SQL", Args: []string{"query", "SELECT 1", "SELECT 2"}, Code: 2, Stderr: "unexpected argument SELECT 2", Quiet: true},
		clitest.Case{Name: "query format", Args: []string{"query", "SELECT 1", "--format", "xml"}, Code: 2, Stderr: "--format", Quiet: true},
		clitest.Case{Name: "query unreachable", Args: []string{"query", "SELECT 1", "--format", "csv"}, Code: 1, Stderr: "connection refused", Quiet: true},
		clitest.Case{Name: "reenrich without since", Args: []string{"reenrich"}, Code: 2, Stderr: "--since", Quiet: true},
		clitest.Case{Name: "reenrich bad since", Args: []string{"reenrich", "--since", "yesterday"}, Code: 2, Stderr: "neither YYYY-MM-DD nor RFC 3339", Quiet: true},
		clitest.Case{Name: "replay bad since", Args: []string{"replay", "--dry-run", "--since=2026-13-01"}, Code: 2, Stderr: "neither YYYY-MM-DD nor RFC 3339", Quiet: true},
		clitest.Case{Name: "send without file", Args: []string{"send", "--gateway", gw.URL}, Code: 2, Stderr: `expected "<file> ..."`, Quiet: true},
		clitest.Case{Name: "send file then flag", Args: []string{"send", payload, "--gateway", gw.URL}, Stdout: "accepted, usage_data_id 7", Quiet: true},
		clitest.Case{Name: "send flag then file", Args: []string{"send", "--gateway", gw.URL, payload}, Stdout: "accepted, usage_data_id 7", Quiet: true},
		clitest.Case{Name: "send from the variable", Args: []string{"send", payload}, Env: []string{"GATEWAY_URL=" + gw.URL}, Stdout: "accepted, usage_data_id 7", Quiet: true},
		clitest.Case{Name: "send refused", Args: []string{"send", payload}, Code: 1, Stderr: "1 of 1 payloads were not accepted"},
		clitest.Case{Name: "loadgen accepted", Args: []string{"loadgen", "--pings", "3", "--instances", "1", "--concurrency", "1", "--gateway", gw.URL}, Stdout: "accepted 3,", Quiet: true},
		clitest.Case{Name: "loadgen refused prints the summary and fails", Args: []string{"loadgen", "--pings", "3", "--instances", "1", "--duration", "10s"}, Code: 1, Stdout: "accepted 0, transport errors 3", Stderr: "3 of 3 pings were not accepted"},
		clitest.Case{Name: "loadgen rejected fails", Args: []string{"loadgen", "--pings", "2", "--gateway", gw.URL + "/reject"}, Code: 1, Stdout: "statuses map[400:2]", Stderr: "2 of 2 pings were not accepted"},
	)
	t.Run("cases", func(t *testing.T) { clitest.Check(t, bin, cases) })
	if n := gw.posts.Load(); n != 3+3+2 {
		t.Errorf("the fake gateway got %d posts, want 8 (3 sends, 3 + 2 loadgen pings)", n)
	}
}

// gateway answers POST /usage_data with usage_data_id 7, and 400 under
// /reject; it counts the posts.
type gateway struct {
	*httptest.Server
	posts atomic.Int64
}

func fakeGateway(t *testing.T) *gateway {
	g := &gateway{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.posts.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.HasPrefix(r.URL.Path, "/reject") {
			http.Error(w, `{"error":"rejected"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"conv_index":{"usage_data_id":7}}`)
	}))
	t.Cleanup(g.Close)
	return g
}

// TestQueryArgumentOrder runs `serviceping query` against a `serviceping
// warehouse` process (the embedded engine), with --format after and before
// the SQL: the same rows either way.
func TestQueryArgumentOrder(t *testing.T) {
	testinfra.Env(t, "CHDB_LIB")
	bin := clitest.Build(t)
	url := startWarehouse(t, bin) + "/default"
	const sql = "SELECT number AS n, toString(number * 2) AS twice FROM system.numbers LIMIT 3"
	const want = "n,twice\n0,0\n1,2\n2,4\n"
	for _, args := range [][]string{
		{"query", sql, "--format", "csv", "--clickhouse", url},
		{"query", "--format", "csv", sql, "--clickhouse", url},
		{"query", "--format=csv", "--clickhouse=" + url, sql},
		{"--log-level", "warn", "query", sql, "--clickhouse", url, "--format", "csv"},
	} {
		r := clitest.Run(t, bin, nil, args...)
		if r.Code != 0 || r.Stdout != want {
			t.Errorf("%q: exit %d, stdout %q, want %q\nstderr:\n%s", args, r.Code, r.Stdout, want, r.Stderr)
		}
	}
	r := clitest.Run(t, bin, []string{"CLICKHOUSE_URL=" + url}, "query", sql)
	if r.Code != 0 || !strings.Contains(r.Stdout, "(3 rows)") {
		t.Errorf("table from CLICKHOUSE_URL: exit %d, stdout %q\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
}

// startWarehouse starts `bin warehouse` on a free port with a temporary
// data directory and returns its URL once it listens; it is stopped with
// SIGTERM when the test ends, and must then exit cleanly.
func startWarehouse(t *testing.T, bin string) string {
	t.Helper()
	p := clitest.Start(t, bin, nil, "warehouse", "--listen", "127.0.0.1:0", "--path", t.TempDir())
	t.Cleanup(func() {
		if out, err := p.Stop(t); err != nil {
			t.Errorf("warehouse: %v\n%s", err, out)
		}
	})
	p.WaitFor(t, "embedded ClickHouse") // the line that says where it listens
	m := regexp.MustCompile(`embedded ClickHouse .* on (http://\S+)`).FindStringSubmatch(p.Output())
	if m == nil {
		t.Fatalf("warehouse exited before it listened:\n%s", p.Output())
	}
	return m[1]
}

// TestMigrateCommand: `serviceping migrate` applies the schema once, says
// so, and finds nothing to do the second time.
func TestMigrateCommand(t *testing.T) {
	testinfra.Env(t, "CHDB_LIB")
	bin := clitest.Build(t)
	url := startWarehouse(t, bin) + "/migrated"
	r := clitest.Run(t, bin, nil, "migrate", "--clickhouse", url)
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "applied to migrated: 0001_pings.sql, ") {
		t.Fatalf("first run: exit %d, stdout %q\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	r = clitest.Run(t, bin, []string{"CLICKHOUSE_URL=" + url}, "migrate")
	if r.Code != 0 || r.Stdout != "migrated is up to date\n" {
		t.Fatalf("second run: exit %d, stdout %q\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	r = clitest.Run(t, bin, nil, "migrate", "--clickhouse", url, "--cluster", "c1; DROP")
	if r.Code != 1 || !strings.Contains(r.Stderr, `cluster name "c1; DROP"`) {
		t.Fatalf("bad cluster name: exit %d, stderr %q", r.Code, r.Stderr)
	}
}
