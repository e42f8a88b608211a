package secretse2e

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/serviceping/serviceping/pkg/cli/clitest"
	"github.com/serviceping/serviceping/pkg/redact"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

// The secrets the services are given. Each is distinct, so a leak names
// the variable it came from.
var secrets = map[string]string{
	"NATS_URL password":           "nats-pw-S3CRET-a1",
	"CLICKHOUSE_URL password":     "ch-pw-S3CRET-b2",
	"REDIS_URL password":          "redis-pw-S3CRET-c3",
	"DATABASE_URL password":       "pg-pw-S3CRET-d4",
	"GATEWAY_URL password":        "gw-pw-S3CRET-e5",
	"DIRECTORY_URL password":      "dir-pw-S3CRET-f6",
	"DIRECTORY_TOKEN":             "dirtok-S3CRET-g7",
	"CRM_TOKEN":                   "crmtok-S3CRET-h8",
	"AWS_SECRET_ACCESS_KEY":       "aws-S3CRET-i9",
	"COLLECTOR_API_TOKEN":         "glpat-S3CRET-j0",
	"WAREHOUSE_PASSWORD":          "wh-pw-S3CRET-k1",
	"WAREHOUSE_READONLY_PASSWORD": "whro-pw-S3CRET-l2",
	"a query's password":          "query-pw-S3CRET-m3",
}

// natsServer runs a JetStream server that wants user svc with the NATS
// secret, until the test ends; it returns its address.
func natsServer(t *testing.T) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		Username: "svc", Password: secrets["NATS_URL password"], NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	return srv.Addr().String()
}

// leaks names the secrets text shows: as given, URL-encoded, or in HTTP
// basic credentials.
func leaks(text string) []string {
	var found []string
	for name, s := range secrets {
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s), base64.StdEncoding.EncodeToString([]byte(s))} {
			if strings.Contains(text, form) {
				found = append(found, name)
				break
			}
		}
	}
	return found
}

func checkClean(t *testing.T, what, text string) {
	t.Helper()
	if found := leaks(text); len(found) > 0 {
		t.Errorf("%s shows %v:\n%s", what, found, text)
	}
}

// TestNoSecretInOutput starts every service with secret-bearing
// configuration and unreachable dependencies, lets each log its start and
// its failures, stops it, and scans everything it printed; the warehouse
// endpoint is also asked with wrong and right credentials (in the URL too)
// and its answers scanned.
func TestNoSecretInOutput(t *testing.T) {
	chdbLib := testinfra.Env(t, "CHDB_LIB")
	bin := clitest.BuildPrograms(t, "../..", map[string]string{ // from services/serviceping
		"serviceping": ".", "gateway": "../gateway", "enricher": "../enricher", "loader": "../loader", "collector": "../collector",
	})
	closed := clitest.ClosedAddr(t) // every other dependency is unreachable
	repo, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	// NATS is reached (with its password in NATS_URL), so the stages get
	// as far as their other dependencies, all unreachable.
	common := []string{
		"NATS_URL=nats://svc:" + secrets["NATS_URL password"] + "@" + natsServer(t),
		"LOG_LEVEL=debug",
	}
	collector := []string{
		"COLLECTOR_DEFINITIONS=" + filepath.Join(repo, "testdata/collector/metrics"),
		"DATABASE_URL=postgres://gitlab:" + secrets["DATABASE_URL password"] + "@" + closed + "/gitlab?sslmode=disable",
		"REDIS_URL=redis://:" + secrets["REDIS_URL password"] + "@" + closed + "/0",
		"GATEWAY_URL=http://gw:" + secrets["GATEWAY_URL password"] + "@" + closed,
		"COLLECTOR_API_TOKEN=" + secrets["COLLECTOR_API_TOKEN"],
		"COLLECTOR_LISTEN=127.0.0.1:0", "COLLECTOR_DATA_DIR=" + t.TempDir(),
		"COLLECTOR_METRIC_TIMEOUT=2s", "COLLECTOR_SUBMIT_ATTEMPTS=1",
	}
	services := []struct {
		name    string
		args    []string
		env     []string
		markers []string // printed once the service has started and met its dependencies' failures; none: it exits
	}{
		{"gateway", nil, []string{"GATEWAY_LISTEN=127.0.0.1:0"}, []string{redact.Mask, "streams ready"}},
		{"enricher", nil, []string{
			"REDIS_URL=redis://:" + secrets["REDIS_URL password"] + "@" + closed + "/0",
			"DIRECTORY_URL=http://dir:" + secrets["DIRECTORY_URL password"] + "@" + closed,
			"DIRECTORY_TOKEN=" + secrets["DIRECTORY_TOKEN"],
			"CRM_URL=http://" + closed, "CRM_TOKEN=" + secrets["CRM_TOKEN"],
			"METRICS_LISTEN=127.0.0.1:0",
		}, []string{redact.Mask, "enricher consuming"}},
		{"loader", nil, []string{
			"CLICKHOUSE_URL=http://loader:" + secrets["CLICKHOUSE_URL password"] + "@" + closed + "/serviceping",
			"LAKE_URL=s3://lake/pings", "S3_ENDPOINT=http://" + closed,
			"AWS_ACCESS_KEY_ID=AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY=" + secrets["AWS_SECRET_ACCESS_KEY"], "AWS_REGION=us-east-1",
			"METRICS_LISTEN=127.0.0.1:0",
		}, []string{redact.Mask, "lake bucket not reachable", "warehouse not ready, retrying"}},
		{"collector", []string{"send"}, collector, nil},
		{"serviceping", []string{"query", "SELECT 1"}, []string{
			"CLICKHOUSE_URL=http://loader:" + secrets["CLICKHOUSE_URL password"] + "@" + closed + "/serviceping",
		}, nil},
		{"serviceping", []string{"query", "SELECT 1"}, []string{
			"CLICKHOUSE_URL=http://loader:" + secrets["CLICKHOUSE_URL password"] + "@127.0.0.1:notaport/serviceping",
		}, nil},
		{"serviceping", []string{"warehouse", "--listen", "0.0.0.0:0"}, []string{
			"WAREHOUSE_READONLY_USER=analyst", "WAREHOUSE_READONLY_PASSWORD=" + secrets["WAREHOUSE_READONLY_PASSWORD"],
			"CHDB_LIB=" + chdbLib,
		}, nil},
	}
	for _, s := range services {
		p := clitest.Start(t, filepath.Join(bin, s.name), append(append([]string{}, common...), s.env...), s.args...)
		p.WaitFor(t, s.markers...)
		out, _ := p.Stop(t) // a refusal's exit status is expected; its output is what counts
		if strings.TrimSpace(out) == "" {
			t.Errorf("%s %v printed nothing: the scan would prove nothing", s.name, s.args)
		}
		checkClean(t, fmt.Sprintf("%s %v's output", s.name, s.args), out)
	}

	t.Run("collector tracking", func(t *testing.T) {
		p := clitest.Start(t, filepath.Join(bin, "collector"), append(append([]string{}, common...), collector...), "run")
		p.WaitFor(t, "collector listening")
		addr := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(p.Output())
		if addr == nil {
			t.Fatalf("no listen address in:\n%s", p.Output())
		}
		for _, token := range []string{secrets["a query's password"], secrets["COLLECTOR_API_TOKEN"]} {
			req, err := http.NewRequest(http.MethodPost, "http://"+addr[1]+"/usage_data/increment_counter", strings.NewReader(`{"event":"pushes"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("PRIVATE-TOKEN", token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			checkClean(t, "the tracking endpoint's answer", fmt.Sprint(resp.Header)+string(b))
		}
		out, _ := p.Stop(t)
		checkClean(t, "collector run's output", out)
	})

	t.Run("warehouse", func(t *testing.T) {
		p := clitest.Start(t, filepath.Join(bin, "serviceping"), append(append([]string{}, common...),
			"WAREHOUSE_USER=loader", "WAREHOUSE_PASSWORD="+secrets["WAREHOUSE_PASSWORD"],
			"WAREHOUSE_READONLY_USER=analyst", "WAREHOUSE_READONLY_PASSWORD="+secrets["WAREHOUSE_READONLY_PASSWORD"],
			"CHDB_LIB="+chdbLib), "warehouse", "--listen", "127.0.0.1:0", "--path", t.TempDir())
		p.WaitFor(t, "embedded ClickHouse")
		base := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(p.Output())
		if base == "" {
			t.Fatalf("no endpoint address in:\n%s", p.Output())
		}
		ask := func(user, password, sql string, inURL bool) (int, string) {
			q := url.Values{"query": {sql}}
			if inURL {
				q.Set("user", user)
				q.Set("password", password)
			}
			req, err := http.NewRequest(http.MethodPost, base+"/?"+q.Encode(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !inURL {
				req.SetBasicAuth(user, password)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(bufio.NewReader(resp.Body))
			return resp.StatusCode, fmt.Sprint(resp.Header) + string(b)
		}
		writer, reader := secrets["WAREHOUSE_PASSWORD"], secrets["WAREHOUSE_READONLY_PASSWORD"]
		for _, c := range []struct {
			user, password, sql string
			inURL               bool
			status              int
		}{
			{"loader", secrets["a query's password"], "SELECT 1", true, http.StatusForbidden},
			{"loader", secrets["a query's password"], "SELECT 1", false, http.StatusForbidden},
			{"analyst", writer, "SELECT 1", false, http.StatusForbidden},
			{"loader", writer, "SELECT 1", true, http.StatusOK},
			{"loader", writer, "SELECT no_such_column", true, http.StatusNotFound},
			{"analyst", reader, "CREATE TABLE t (x UInt8) ENGINE = Memory", true, http.StatusForbidden},
			{"analyst", reader, "SELECT * FROM system.settings WHERE name = 'password'", false, http.StatusOK},
		} {
			status, answer := ask(c.user, c.password, c.sql, c.inURL)
			if status != c.status {
				t.Errorf("%s %q (in URL: %v): %d, want %d: %s", c.user, c.sql, c.inURL, status, c.status, answer)
			}
			checkClean(t, fmt.Sprintf("the answer to %s %q", c.user, c.sql), answer)
		}
		out, _ := p.Stop(t)
		checkClean(t, "serviceping warehouse's output", out)
	})
}
