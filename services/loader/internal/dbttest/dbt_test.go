package dbttest_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/internal/dbttest"
	"github.com/serviceping/serviceping/services/loader/internal/testpings"
	"github.com/serviceping/serviceping/services/loader/rows"
	"github.com/serviceping/serviceping/services/loader/warehouse"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

const (
	// numInstances installations ping weekly numWeeks times from
	// pinggen.Epoch (Monday 2026-01-05): four pings in January, two in
	// February.
	numInstances = 20
	numWeeks     = 6

	gitlabDotComUUID = "ea8bf810-1d6f-4a6a-b4fd-93e8cbd8b57f"

	// The project's models (dbt/models) and seeds (dbt/seeds).
	numModels = 11
	numSeeds  = 1
)

// marts are the models `make dbt` must leave non-empty on seeded data.
var marts = []string{
	"dim_ping_instance", "fct_ping_instance_metric_monthly", "fct_ping_instance_metric_weekly",
	"rpt_metric_monthly_totals", "mart_xmau_monthly", "mart_version_adoption",
	"mart_license_utilization", "mart_devops_score", "mart_ping_health",
}

// generate builds the records of every generated ping, as the loader would
// from the enricher's envelopes. Installations 0 and 1 are GitLab.com and
// its staging (same uuid, different hostnames); the first licensed
// installation from 2 on has a license that expired before the pings
// (product tier Free whatever its edition).
func generate(t *testing.T) []rows.Record {
	t.Helper()
	expired := -1
	for i := 2; i < numInstances; i++ {
		if pinggen.InstanceOf(i).Plan != "" {
			expired = i
			break
		}
	}
	if expired < 0 {
		t.Fatal("no licensed generated installation")
	}
	return testpings.Records(t, numInstances*numWeeks, func(g *pinggen.Generator, k int) (*servicepingv1.EnrichedPing, error) {
		i, w := k/numWeeks, k%numWeeks
		p := g.Ping(pinggen.Spec{Instance: i, Week: w})
		switch i {
		case 0:
			p["uuid"], p["hostname"] = gitlabDotComUUID, "gitlab.com"
		case 1:
			p["uuid"], p["hostname"] = gitlabDotComUUID, "staging.gitlab.com"
		case expired:
			p["license_expires_at"] = "2025-12-31"
		}
		payload, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		rec, err := ping.ParseRecordedAt(p["recorded_at"].(string))
		if err != nil {
			return nil, err
		}
		return testpings.Enriched(payload, rec.Add(time.Hour))
	})
}

// TestDBTBuild loads the generated pings (and error reports, metric
// timings and DevOps scores for them) into a fresh warehouse database,
// runs `make dbt` over it and checks the models' figures against the same
// rules restated in Go (expect_test.go).
func TestDBTBuild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	testinfra.Env(t, "SERVICEPING_DBT") // the virtualenv scripts/test-env.sh prepared
	endpoint := chtest.Endpoint(t)

	recs := generate(t)
	srcDB := chtest.Database(t, "dbt_src")
	sink, err := warehouse.Open(ctx, chtest.URL(t, srcDB), warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Write(ctx, rows.NewBatch(recs)); err != nil {
		t.Fatal(err)
	}
	// A re-delivery in a later batch: the rows are in the tables twice until
	// a merge; the models must see them once.
	var again []rows.Record
	for i := range 3 {
		again = append(again, recs[i*numWeeks+numWeeks-1])
	}
	if err := sink.Write(ctx, rows.NewBatch(again)); err != nil {
		t.Fatal(err)
	}
	reports := generateReports(recs)
	if err := sink.WriteReports(ctx, reports); err != nil {
		t.Fatal(err)
	}
	scores := generateScores(recs)
	insertScores(ctx, t, sink.Conn(), srcDB, scores)

	// Twice: the first build creates the models, the second replaces the
	// existing tables (dbt-clickhouse's EXCHANGE TABLES path), as an
	// analyst's every later run does.
	martDB := chtest.Database(t, "dbt_analytics")
	for run := 1; run <= 2; run++ {
		res := runDBT(ctx, t, endpoint, srcDB, martDB, "")
		if n := len(res.fleetTests); n != 0 {
			t.Errorf("dbt build without fleet_fixture ran %d fleet tests %v; they must be disabled", n, res.fleetTests)
		}
		t.Logf("make dbt #%d: %s", run, res.summary)
	}

	dict := loadDictionary(t)
	want := expectFigures(recs, dict)
	conn := chtest.Conn(t, martDB)
	query := func(sql string, scan func(func(...any) error) error) {
		t.Helper()
		queryRows(ctx, t, conn, sql, scan)
	}

	t.Run("marts not empty", func(t *testing.T) {
		for _, m := range marts {
			if n := chtest.Count(t, conn, "SELECT count() FROM "+m); n == 0 {
				t.Errorf("%s is empty", m)
			}
		}
	})

	t.Run("pings", func(t *testing.T) {
		if n := chtest.Count(t, conn, "SELECT count() FROM dim_ping_instance"); n != uint64(len(recs)) {
			t.Errorf("dim_ping_instance has %d rows, want %d (one per ping, re-delivery collapsed)", n, len(recs))
		}
		if n := chtest.Count(t, conn, "SELECT countIf(is_last_ping_of_month) FROM dim_ping_instance"); n != 2*numInstances {
			t.Errorf("%d last pings of month, want %d (%d installations × 2 months)", n, 2*numInstances, numInstances)
		}
		if n := chtest.Count(t, conn, "SELECT countIf(is_last_ping_of_week) FROM dim_ping_instance"); n != uint64(len(recs)) {
			t.Errorf("%d last pings of week, want %d (weekly pings)", n, len(recs))
		}
		if n := chtest.Count(t, conn, "SELECT uniqExact(dim_installation_id) FROM dim_ping_instance WHERE ping_delivery_type = 'SaaS'"); n != 2 {
			t.Errorf("%d SaaS installations, want 2 (gitlab.com and its staging)", n)
		}
		if n := chtest.Count(t, conn, "SELECT uniqExact(uuid) FROM dim_ping_instance"); n != numInstances-1 {
			t.Errorf("%d uuids in dim_ping_instance, want %d (gitlab.com and its staging share one)", n, numInstances-1)
		}
	})

	t.Run("product tiers", func(t *testing.T) {
		got := collect(ctx, t, conn, "SELECT product_tier, uniqExact(dim_installation_id) FROM dim_ping_instance GROUP BY product_tier",
			func(scan func(...any) error) (tier string, n uint64, err error) {
				err = scan(&tier, &n)
				return tier, n, err
			})
		if !maps.Equal(got, want.tiers) {
			t.Errorf("installations per product tier = %v, want %v", got, want.tiers)
		}
		if n := chtest.Count(t, conn, "SELECT count() FROM dim_ping_instance WHERE edition NOT IN ('CE', 'EE Free') AND product_tier = 'Free'"); n != numWeeks {
			t.Errorf("%d paid-edition pings are Free, want %d (the installation whose license expired)", n, numWeeks)
		}
	})

	t.Run("timeouts", func(t *testing.T) {
		if want.timeouts == 0 {
			t.Fatal("the generated pings have no -1 values")
		}
		n := chtest.Count(t, conn, "SELECT count() FROM stg_ping_metrics WHERE has_timed_out AND metric_value = 0 AND original_metric_value = -1")
		if n != want.timeouts {
			t.Errorf("%d timed-out metrics, want %d", n, want.timeouts)
		}
	})

	t.Run("time frames", func(t *testing.T) {
		// Every key path × value kind: the dictionary's time frame when it
		// defines the key path, the key-path guess otherwise, and which.
		bad, fromDict, overridden := 0, 0, 0
		query("SELECT key_path, value_kind, groupUniqArray(time_frame), groupUniqArray(time_frame_source) FROM stg_ping_metrics GROUP BY key_path, value_kind",
			func(scan func(...any) error) error {
				var key, kind string
				var tfs, srcs []string
				if err := scan(&key, &kind, &tfs, &srcs); err != nil {
					return err
				}
				tf, src := timeFrame(dict, key, kind)
				if len(tfs) != 1 || tfs[0] != tf || len(srcs) != 1 || srcs[0] != src {
					if bad++; bad <= 10 {
						t.Errorf("%s (%s): time_frame %v from %v, want %s from %s", key, kind, tfs, srcs, tf, src)
					}
				}
				if src == "dictionary" {
					fromDict++
					if guess := guessTimeFrame(key, kind); guess != tf {
						overridden++
					}
				}
				return nil
			})
		t.Logf("%d key paths × kinds take their time frame from the dictionary, %d of them differing from the key-path guess", fromDict, overridden)
		if fromDict == 0 || overridden == 0 {
			t.Errorf("the data does not exercise the dictionary (%d key paths) or a dictionary time frame that overrides the guess (%d)", fromDict, overridden)
		}
	})

	// totals reads a period × metric × tier total per row of sql.
	totals := func(sql string) map[totalKey]total {
		return collect(ctx, t, conn, sql, func(scan func(...any) error) (k totalKey, v total, err error) {
			err = scan(&k.period, &k.key, &k.tier, &v.sum, &v.instances)
			return k, v, err
		})
	}

	t.Run("monthly totals", func(t *testing.T) {
		compareTotals(t, totals("SELECT toString(ping_month), key_path, product_tier, recorded_usage, reporting_instances FROM rpt_metric_monthly_totals WHERE startsWith(key_path, 'counts')"), want.totals)
		t.Logf("%d month × metric × tier totals under counts* equal Go's; %d all-time installation-months were clamped at 0, %d counted a whole value after a timeout",
			len(want.totals), want.clamped, want.afterTimeout)
		if want.clamped == 0 || want.afterTimeout == 0 {
			t.Errorf("the data does not exercise clamping (%d) and timeouts before a difference (%d)", want.clamped, want.afterTimeout)
		}
	})

	t.Run("weekly totals", func(t *testing.T) {
		compareTotals(t, totals("SELECT toString(ping_week), key_path, product_tier, sum(weekly_metric_value), uniqExact(dim_installation_id) FROM fct_ping_instance_metric_weekly WHERE startsWith(key_path, 'counts') GROUP BY ping_week, key_path, product_tier"), want.weeklyTotals)
		t.Logf("%d week × metric × tier totals under counts* equal Go's", len(want.weeklyTotals))
	})

	t.Run("xmau", func(t *testing.T) {
		got := collect(ctx, t, conn, `SELECT toString(month), xmau_kind, key_path, recorded_usage, reporting_instances, known_instances,
		              reporting_weight, known_weight, pct_reporting, estimated_usage
		       FROM mart_xmau_monthly`,
			func(scan func(...any) error) (k xmauKey, v xmau, err error) {
				err = scan(&k.month, &k.kind, &k.key, &v.recorded, &v.reporting, &v.known, &v.reportingWeight, &v.knownWeight, &v.pct, &v.estimated)
				return k, v, err
			})
		want := expectXMAU(recs, dict)
		if len(want) == 0 {
			t.Fatal("no expected xMAU rows: the generated pings carry no 28d metric the dictionary tags smau/gmau/paid_gmau/umau")
		}
		compareMaps(t, "mart_xmau_monthly", got, want, func(a, b xmau) bool {
			return a.reporting == b.reporting && a.known == b.known && near(a.recorded, b.recorded) &&
				near(a.reportingWeight, b.reportingWeight) && near(a.knownWeight, b.knownWeight) && near(a.pct, b.pct) && near(a.estimated, b.estimated)
		})
		t.Logf("%d month × kind × metric xMAU rows equal Go's", len(want))
	})

	t.Run("version adoption", func(t *testing.T) {
		got := collect(ctx, t, conn, "SELECT toString(ping_week), version, edition, major_minor_version, instances, active_users FROM mart_version_adoption",
			func(scan func(...any) error) (k adoptionKey, v adoption, err error) {
				err = scan(&k.week, &k.version, &k.edition, &v.majorMinor, &v.instances, &v.activeUsers)
				return k, v, err
			})
		compareMaps(t, "mart_version_adoption", got, expectAdoption(recs), func(a, b adoption) bool { return a == b })
	})

	t.Run("license utilization", func(t *testing.T) {
		got := collect(ctx, t, conn, `SELECT account_id, subscription_id, installations, active_users, license_user_count,
		              ifNull(utilization_ratio, -1), last_ping_at, days_since_last_ping = dateDiff('day', toDate(last_ping_at), toDate(built_at))
		       FROM mart_license_utilization`,
			func(scan func(...any) error) (k licenseKey, v license, err error) {
				err = scan(&k.account, &k.subscription, &v.installations, &v.activeUsers, &v.seats, &v.ratio, &v.lastPing, &v.daysOK)
				v.lastPing = v.lastPing.UTC()
				return k, v, err
			})
		want := expectLicenses(recs)
		if len(want) == 0 {
			t.Fatal("no licensed generated installation")
		}
		compareMaps(t, "mart_license_utilization", got, want, func(a, b license) bool {
			return a.installations == b.installations && a.activeUsers == b.activeUsers && ptrEqual(a.seats, b.seats) &&
				near(a.ratio, b.ratio) && a.lastPing.Equal(b.lastPing) && a.daysOK == b.daysOK
		})
	})

	t.Run("devops score", func(t *testing.T) {
		got := collect(ctx, t, conn, `SELECT uuid, toString(score_month), ping_id, ifNull(hostname, ''), overall_score,
		              [step_idea, step_issue, step_plan, step_code, step_commit, step_test, step_review, step_staging, step_production, step_feedback],
		              [percentage_issues, percentage_notes, percentage_milestones, percentage_boards, percentage_merge_requests,
		               percentage_ci_pipelines, percentage_environments, percentage_deployments, percentage_projects_prometheus_active,
		               percentage_service_desk_issues]
		       FROM mart_devops_score`,
			func(scan func(...any) error) (k scoreKey, v scoreRow, err error) {
				var steps, pct []float64
				err = scan(&k.uuid, &k.month, &v.pingID, &v.hostname, &v.overall, &steps, &pct)
				copy(v.steps[:], steps)
				copy(v.percentage[:], pct)
				return k, v, err
			})
		compareMaps(t, "mart_devops_score", got, expectScores(recs, scores), func(a, b scoreRow) bool {
			if a.pingID != b.pingID || a.hostname != b.hostname || !near(a.overall, b.overall) {
				return false
			}
			for i := range a.steps {
				if !near(a.steps[i], b.steps[i]) || !near(a.percentage[i], b.percentage[i]) {
					return false
				}
			}
			return true
		})
	})

	t.Run("ping health", func(t *testing.T) {
		got := collect(ctx, t, conn, `SELECT version, key_path, metric_pings, fallback_timeout_count, fallback_redis_count, fallback_sql_count,
		              fallback_deprecated_count, version_pings, version_error_reports, timings, timing_errors,
		              ifNull(timing_p50_seconds, -1), ifNull(timing_p95_seconds, -1)
		       FROM mart_ping_health`,
			func(scan func(...any) error) (k healthKey, v health, err error) {
				err = scan(&k.version, &k.key, &v.pings, &v.fallbacks[0], &v.fallbacks[1], &v.fallbacks[2], &v.fallbacks[3],
					&v.versionPings, &v.errorReports, &v.timings, &v.timingErrors, &v.p50, &v.p95)
				return k, v, err
			})
		want := expectHealth(recs, reports)
		compareMaps(t, "mart_ping_health", got, want, func(a, b health) bool {
			return a.pings == b.pings && a.fallbacks == b.fallbacks && a.versionPings == b.versionPings &&
				a.errorReports == b.errorReports && a.timings == b.timings && a.timingErrors == b.timingErrors &&
				near(a.p50, b.p50) && near(a.p95, b.p95)
		})
		t.Logf("%d version × metric health rows equal Go's", len(want))
	})
}

// generateReports makes the error reports and metric timings of the
// generated fleet: one error report for every third installation, and
// after every ping of installations 2 and up (gitlab.com and its staging
// share a uuid, which would make the version of a timing ambiguous) a
// timing report five seconds after the ping was received, for two counters
// and an object-valued metric, some with an error.
func generateReports(recs []rows.Record) rows.ReportBatch {
	var b rows.ReportBatch
	for i := range numInstances {
		if i%3 != 0 {
			continue
		}
		r := recs[i*numWeeks].Ping
		b.Errors = append(b.Errors, &servicepingv1.ErrorReport{
			ReportId: fmt.Sprintf("error-%d", i), Uuid: r.UUID, Hostname: r.Hostname, Version: r.Version,
			Message: "PG::QueryCanceled at usage_data.rb:42", Elapsed: float64(i) / 10, Time: r.RecordedAt.Format(time.RFC3339),
			ReceivedAt: timestamppb.New(r.ReceivedAt.Add(30 * time.Minute)),
		})
	}
	for i := range recs {
		inst, week := i/numWeeks, i%numWeeks
		if inst < 2 {
			continue
		}
		r := recs[i].Ping
		var ms []*servicepingv1.MetricTiming
		for j, name := range []string{"counts.issues", "counts.merge_requests", "topology"} {
			m := &servicepingv1.MetricTiming{Name: name, TimeElapsed: float64((inst*7+week*3+j*5)%23)/10 + 0.05}
			if (inst+week+j)%11 == 0 {
				m.Error = "Gitlab::Utils::UsageData::TimeoutError"
			}
			ms = append(ms, m)
		}
		b.Timings = append(b.Timings, &servicepingv1.MetricTimings{
			ReportId: fmt.Sprintf("timings-%d-%d", inst, week), Uuid: r.UUID, Metrics: ms,
			ReceivedAt: timestamppb.New(r.ReceivedAt.Add(5 * time.Second)),
		})
	}
	return b
}

// score is one devops_scores row of the generated fleet.
type score struct {
	ping                 rows.Ping
	leader, percentage   [10]float64
	previousPing         rows.Ping
	leadersComputedAtSet bool
}

// generateScores scores every ping but an installation's first (which
// GitLab's Versions app answers without a score), with deterministic
// percentages and leaders.
func generateScores(recs []rows.Record) []score {
	var out []score
	for i := range recs {
		inst, week := i/numWeeks, i%numWeeks
		if week == 0 {
			continue
		}
		s := score{ping: recs[i].Ping, previousPing: recs[i-1].Ping, leadersComputedAtSet: week > 1}
		for f := range s.percentage {
			s.leader[f] = float64(10 + f)
			s.percentage[f] = float64((inst*13+week*7+f*5)%101) / 2
		}
		out = append(out, s)
	}
	return out
}

// insertScores writes the scores into db.devops_scores (the loader does not
// derive them from generated pings).
func insertScores(ctx context.Context, t *testing.T, conn driver.Conn, db string, scores []score) {
	t.Helper()
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".devops_scores")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scores {
		var computedAt *time.Time
		if s.leadersComputedAtSet {
			at := s.ping.RecordedAt.Add(-24 * time.Hour)
			computedAt = &at
		}
		args := []any{s.ping.PingID, s.ping.UsageDataID, s.ping.UUID, s.ping.RecordedAt, s.ping.ReceivedAt,
			s.previousPing.PingID, s.previousPing.RecordedAt, int64(0), computedAt, uint32(numInstances)}
		for f := range s.percentage {
			args = append(args, s.leader[f], s.leader[f]*s.percentage[f]/100, s.percentage[f])
		}
		args = append(args, s.ping.RowVersion)
		if err := batch.Append(args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
}

// dbtRun is what one `make dbt` did.
type dbtRun struct {
	summary    string
	kinds      map[string]int // nodes by kind: model, seed, test
	fleetTests []string       // the fleet fixture's singular tests that ran
}

// runDBT runs `make dbt` — the Makefile target analysts use — against the
// endpoint, sources in srcDB, models in martDB, with DBT_VARS=vars when
// given, and fails unless every node succeeded.
func runDBT(ctx context.Context, t *testing.T, endpoint, srcDB, martDB, vars string) dbtRun {
	t.Helper()
	repo := repoRoot(t)
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("make dbt: %v", err)
	}
	tmp := t.TempDir()
	cmd := exec.CommandContext(ctx, mk, "--no-print-directory", "-C", repo, "dbt", "CLICKHOUSE_URL="+endpoint+"/"+srcDB)
	var env []string
	for _, kv := range os.Environ() {
		// A parent make (make test) must not hand its flags, jobserver or
		// command-line variables to this one; nor may the caller's dbt
		// settings leak in.
		name, _, _ := strings.Cut(kv, "=")
		if name == "MAKEFLAGS" || name == "MFLAGS" || name == "MAKELEVEL" || name == "CLICKHOUSE_URL" || strings.HasPrefix(name, "DBT_") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env,
		"DBT_CLICKHOUSE_SCHEMA="+martDB,
		"DBT_TARGET_PATH="+filepath.Join(tmp, "target"),
		"DBT_LOG_PATH="+filepath.Join(tmp, "logs"),
		"DBT_USE_COLORS=false",
		"DBT_VARS="+vars,
	)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(tmp, "logs", "dbt.log"))
		t.Fatalf("make dbt: %v\n%s\n--- dbt.log (tail) ---\n%s", err, tail(string(out), 20000), tail(string(log), 8000))
	}
	summary := regexp.MustCompile(`PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)(?: NO-OP=\d+)? TOTAL=(\d+)`).FindStringSubmatch(string(out))
	if summary == nil {
		t.Fatalf("make dbt: no summary line in its output:\n%s", out)
	}
	if summary[2] != "0" || summary[3] != "0" || summary[4] != "0" || summary[1] != summary[5] {
		t.Fatalf("make dbt: %s\n%s", summary[0], out)
	}

	// run_results.json: every model built, every test passed.
	data, err := os.ReadFile(filepath.Join(tmp, "target", "run_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var results struct {
		Results []struct {
			UniqueID string `json:"unique_id"`
			Status   string `json:"status"`
		} `json:"results"`
	}
	if err := json.Unmarshal(data, &results); err != nil {
		t.Fatalf("run_results.json: %v", err)
	}
	run := dbtRun{kinds: map[string]int{}}
	for _, r := range results.Results {
		kind, rest, _ := strings.Cut(r.UniqueID, ".")
		run.kinds[kind]++
		if name := strings.TrimPrefix(rest, "serviceping."); kind == "test" && strings.HasPrefix(name, "fleet_") {
			run.fleetTests = append(run.fleetTests, name)
		}
		if r.Status != "success" && r.Status != "pass" {
			t.Errorf("dbt %s: status %s", r.UniqueID, r.Status)
		}
	}
	seeds := numSeeds
	if vars != "" {
		seeds += len(fleetDirFiles(t, "seeds", ".csv"))
	}
	if run.kinds["model"] != numModels || run.kinds["seed"] != seeds || run.kinds["test"] < 100 {
		t.Errorf("dbt built %v; want the %d models, %d seeds and their tests", run.kinds, numModels, seeds)
	}
	run.summary = fmt.Sprintf("%s (%v)", summary[0], run.kinds)
	return run
}

// repoRoot is the repository's root directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
	if _, err := os.Stat(filepath.Join(root, "dbt", "dbt_project.yml")); err != nil {
		t.Fatalf("dbt project: %v", err)
	}
	return root
}

// collect runs sql on conn and maps every row as row scans it.
func collect[K comparable, V any](ctx context.Context, t *testing.T, conn driver.Conn, sql string, row func(scan func(...any) error) (K, V, error)) map[K]V {
	t.Helper()
	out := map[K]V{}
	queryRows(ctx, t, conn, sql, func(scan func(...any) error) error {
		k, v, err := row(scan)
		out[k] = v
		return err
	})
	return out
}

// queryRows runs sql on conn and calls scan for every row.
func queryRows(ctx context.Context, t *testing.T, conn driver.Conn, sql string, scan func(func(...any) error) error) {
	t.Helper()
	rs, err := conn.Query(ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rs.Close()
	for rs.Next() {
		if err := scan(rs.Scan); err != nil {
			t.Fatalf("%s: scan: %v", sql, err)
		}
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// compareTotals reports every total that differs from want, and fails when
// any does.
func compareTotals(t *testing.T, got, want map[totalKey]total) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("no expected totals")
	}
	bad := 0
	for _, k := range slices.SortedFunc(maps.Keys(want), totalKey.compare) {
		if g, ok := got[k]; !ok || g != want[k] {
			if bad++; bad <= 10 {
				t.Errorf("%v = %+v (present %v), want %+v", k, g, ok, want[k])
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			if bad++; bad <= 10 {
				t.Errorf("%v: unexpected row %+v", k, got[k])
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d totals differ", bad, len(want))
	}
}

// compareMaps reports the rows of a model that are missing, unexpected or
// different (by eq) from want, and fails when any is.
func compareMaps[K comparable, V any](t *testing.T, model string, got, want map[K]V, eq func(a, b V) bool) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: no expected rows", model)
	}
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(model+": "+format, args...)
		}
	}
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			report("%+v missing, want %+v", k, w)
		case !eq(g, w):
			report("%+v = %+v, want %+v", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			report("%+v: unexpected row %+v", k, g)
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d rows differ (%d expected, %d built)", model, bad, len(want), len(got))
	}
}

// near compares computed floats (sums and ratios in another order).
func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// loadDictionary reads the metric dictionary seed, dbt/seeds/dim_ping_metric.csv.
func loadDictionary(t *testing.T) map[string]dictEntry {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "dbt", "seeds", "dim_ping_metric.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("dim_ping_metric.csv: %v", err)
	}
	if len(recs) < 2 {
		t.Fatal("dim_ping_metric.csv: no rows")
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}
	for _, name := range []string{"key_path", "time_frame", "is_smau", "is_gmau", "is_paid_gmau", "is_umau"} {
		if _, ok := col[name]; !ok {
			t.Fatalf("dim_ping_metric.csv: no column %s", name)
		}
	}
	dict := map[string]dictEntry{}
	for _, r := range recs[1:] {
		e := dictEntry{timeFrame: r[col["time_frame"]]}
		for _, kind := range []string{"smau", "gmau", "paid_gmau", "umau"} {
			if r[col["is_"+kind]] == "true" {
				e.kinds = append(e.kinds, kind)
			}
		}
		dict[r[col["key_path"]]] = e
	}
	return dict
}

// fleetStatements are FleetStatements(db), or the test fails.
func fleetStatements(t *testing.T, db string) []string {
	t.Helper()
	stmts, err := dbttest.FleetStatements(db)
	if err != nil {
		t.Fatal(err)
	}
	return stmts
}

// fleetDirFiles are the names (without ext) of the files dbt/<dir>/fleet/*ext.
func fleetDirFiles(t *testing.T, dir, ext string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "dbt", dir, "fleet", "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ext))
	}
	slices.Sort(names)
	return names
}
