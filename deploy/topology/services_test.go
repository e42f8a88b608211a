package topology_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/deploy/topology"
	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/enricher/enricher"
	"github.com/serviceping/serviceping/services/gateway/gateway"
	"github.com/serviceping/serviceping/services/loader/loader"
)

// stage is one of our services as the deployment files run it.
type stage struct {
	name string
	// listenVar is the variable of the HTTP listener the health checks
	// probe.
	listenVar string
	// readiness and liveness are the probe paths the deployment must use.
	readiness, liveness string
	// vars are the variables the service reads.
	vars map[string]bool
	// deployed are the variables a deployment must set, and how: listeners
	// reachable from outside the container, real dependencies.
	deployed map[string]*regexp.Regexp
	// load reads and validates the service's configuration from env as
	// the service does at start.
	load func(ctx context.Context, env map[string]string) error
}

// runtimeVars are read by the Go runtime of every binary.
var runtimeVars = []string{"GOMEMLIMIT", "GOMAXPROCS", "GOGC"}

// awsVars are the standard AWS SDK chain's, through which the loader gets
// its S3 credentials and region (loader.Config's LAKE_URL).
var awsVars = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_PROFILE"}

// loadLogging validates LOG_LEVEL and LOG_FORMAT as every binary does
// (cli.Logging).
func loadLogging(env map[string]string) error {
	l := cli.Logging{LogLevel: env["LOG_LEVEL"], LogFormat: env["LOG_FORMAT"]}
	return l.Validate()
}

func varsOf(cfgs []any, extra ...string) map[string]bool {
	names := map[string]bool{}
	for _, c := range cfgs {
		maps.Copy(names, topology.EnvNames(c))
	}
	for _, n := range slices.Concat(runtimeVars, extra) {
		names[n] = true
	}
	return names
}

// stages are the pipeline's services, with what the deployment files must
// agree with: their variables and configuration (the config structs' env
// tags and LoadConfig) and their probes.
var stages = []stage{
	{
		name: "gateway", listenVar: "GATEWAY_LISTEN", readiness: "/readyz", liveness: "/healthz",
		vars:     varsOf([]any{gateway.Config{}, cli.Logging{}}),
		deployed: map[string]*regexp.Regexp{"GATEWAY_LISTEN": anyHost},
		load: func(ctx context.Context, env map[string]string) error {
			_, err := gateway.LoadConfig(ctx, envconfig.MapLookuper(env))
			return errors.Join(err, loadLogging(env))
		},
	},
	{
		name: "enricher", listenVar: "METRICS_LISTEN", readiness: "/readyz", liveness: "/healthz",
		vars: varsOf([]any{enricher.Config{}, cli.Logging{}}),
		deployed: map[string]*regexp.Regexp{
			"METRICS_LISTEN": anyHost, "DIRECTORY_URL": regexp.MustCompile(`^postgres://`), "REDIS_URL": regexp.MustCompile(`^rediss?://`),
		},
		load: func(ctx context.Context, env map[string]string) error {
			_, err := enricher.LoadConfig(ctx, envconfig.MapLookuper(env))
			return errors.Join(err, loadLogging(env))
		},
	},
	{
		name: "loader", listenVar: "METRICS_LISTEN", readiness: "/readyz", liveness: "/healthz",
		vars: varsOf([]any{loader.Config{}, cli.Logging{}}, awsVars...),
		deployed: map[string]*regexp.Regexp{
			"METRICS_LISTEN": anyHost, "LAKE_URL": regexp.MustCompile(`^s3://`), "CLICKHOUSE_URL": regexp.MustCompile(`^clickhouse://`),
			"AWS_ACCESS_KEY_ID": regexp.MustCompile(`.`), "AWS_SECRET_ACCESS_KEY": regexp.MustCompile(`.`),
			"LOADER_MIGRATE": regexp.MustCompile(`^false$`), // the migration job migrates
		},
		load: func(ctx context.Context, env map[string]string) error {
			_, err := loader.LoadConfig(ctx, envconfig.MapLookuper(env), slog.New(slog.DiscardHandler))
			return errors.Join(err, loadLogging(env))
		},
	},
}

// migrateVars are the variables `serviceping migrate` reads: its flags,
// read from the command line grammar in services/serviceping (a main
// package, read as source), and the root's inherited ones. It fails the
// test when serviceping has no migrate command.
func migrateVars(t *testing.T) map[string]bool {
	t.Helper()
	c, err := topology.KongCommand("../../services/serviceping", "commands", "migrate")
	if err != nil {
		t.Fatal(err)
	}
	vars := varsOf(nil)
	maps.Copy(vars, c.Vars)
	for _, in := range c.Inherited {
		if in != "cli.Logging" {
			t.Fatalf("serviceping's grammar inherits %s, which this test does not know", in)
		}
		maps.Copy(vars, topology.EnvNames(cli.Logging{}))
	}
	return vars
}

// checkMigration fails the test unless the migration job runs
// `serviceping migrate` with variables it reads, a CLICKHOUSE_URL it
// accepts, on the loaders' warehouse and cluster, and the loaders leave
// migrating to it.
func checkMigration(t *testing.T, where string, args []string, env, loaderEnv map[string]string) {
	t.Helper()
	if !slices.Equal(args, []string{"migrate"}) {
		t.Errorf("%s: the migration job runs serviceping %v, want migrate", where, args)
	}
	vars := migrateVars(t)
	for _, name := range slices.Sorted(maps.Keys(env)) {
		if !vars[name] {
			t.Errorf("%s: the migration job sets %s, which serviceping migrate does not read", where, name)
		}
	}
	if _, err := chconn.Options(env["CLICKHOUSE_URL"]); err != nil {
		t.Errorf("%s: the migration job's CLICKHOUSE_URL: %v", where, err)
	}
	if err := loadLogging(env); err != nil {
		t.Errorf("%s: the migration job's logging: %v", where, err)
	}
	for _, name := range []string{"CLICKHOUSE_URL", "CLICKHOUSE_CLUSTER"} {
		if env[name] != loaderEnv[name] {
			t.Errorf("%s: the migration job's %s differs from the loader's", where, name)
		}
	}
}

// anyHost is a listener on every interface: a container's loopback is
// reachable by nobody else.
var anyHost = regexp.MustCompile(`^0\.0\.0\.0:[0-9]+$`)

// checkEnv fails the test for every variable of env the stage does not
// read, for a variable the deployment must set and does not set as it
// should, and when the stage's configuration does not load from env.
func checkEnv(t *testing.T, where string, s stage, env map[string]string) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(s.deployed)) {
		if want := s.deployed[name]; !want.MatchString(env[name]) {
			t.Errorf("%s: %s %s=%q, want it to match %s", where, s.name, name, env[name], want)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(env)) {
		if !s.vars[name] {
			t.Errorf("%s: %s sets %s, which the %s does not read", where, s.name, name, s.name)
		}
	}
	if err := s.load(context.Background(), env); err != nil {
		t.Errorf("%s: the %s's configuration does not load: %v", where, s.name, err)
	}
}

// listenPort is the port of the stage's listener in env.
func listenPort(t *testing.T, where string, s stage, env map[string]string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(env[s.listenVar])
	if err != nil {
		t.Fatalf("%s: %s %s=%q: %v", where, s.name, s.listenVar, env[s.listenVar], err)
	}
	var p int
	if _, err := fmt.Sscan(port, &p); err != nil {
		t.Fatalf("%s: %s %s port %q: %v", where, s.name, s.listenVar, port, err)
	}
	return p
}

// credential matches the names of variables and keys that hold secrets.
var credential = regexp.MustCompile(`(?i)(password|secret|token|creds|private)`)

// userinfoPassword reports whether v is a URL (or a list of them) with a
// password in it.
func userinfoPassword(v string) (string, bool) {
	for part := range strings.SplitSeq(v, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil || u.User == nil {
			continue
		}
		if p, ok := u.User.Password(); ok && p != "" {
			return p, true
		}
	}
	return "", false
}

// TestProbedRoutesAnswer serves each stage's real HTTP handler — the
// gateway's API over an embedded JetStream, the enricher's and loader's
// metrics listener — and checks that every probe path the deployment
// files use answers 200 on a healthy service.
func TestProbedRoutesAnswer(t *testing.T) {
	t.Parallel()
	js, _ := testinfra.JetStream(t)
	gcfg, err := lifecycle.Defaults[gateway.Config]()
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gcfg, gateway.Deps{JS: js, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	handlers := map[string]http.Handler{
		"gateway":  gw.Handler(),
		"enricher": lifecycle.MetricsHandler(prometheus.NewRegistry(), nil),
		"loader":   lifecycle.MetricsHandler(prometheus.NewRegistry(), nil),
	}
	for _, s := range stages {
		for _, path := range []string{s.readiness, s.liveness} {
			rec := httptest.NewRecorder()
			handlers[s.name].ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != http.StatusOK {
				t.Errorf("%s: GET %s = %d %s, want 200", s.name, path, rec.Code, rec.Body)
			}
		}
	}
}
