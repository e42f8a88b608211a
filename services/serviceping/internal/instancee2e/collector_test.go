package instancee2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/collector/collector"
	"github.com/serviceping/serviceping/services/loader/lake"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipelinetest"
)

// TestMain lets the test binary serve as the embedded engine's process.
func TestMain(m *testing.M) { pipelinetest.Main(m) }

const testdata = "../../../../testdata/collector"

// newCollector builds a collector over a freshly seeded instance that
// submits to gatewayURL; edit may adjust its configuration.
func newCollector(t *testing.T, dbURL, gatewayURL string, edit func(*collector.Config)) *collector.Collector {
	t.Helper()
	var cfg collector.Config
	if _, err := cfg.LoadFile(filepath.Join(testdata, "config.yml")); err != nil {
		t.Fatal(err)
	}
	cfg.Enabled = true
	cfg.DefinitionsDir = filepath.Join(testdata, "metrics")
	cfg.MappingFile = filepath.Join(testdata, "instrumentations.yml")
	cfg.KnownEvents = filepath.Join(testdata, "known_events.yml")
	cfg.License = filepath.Join(testdata, "license.yml")
	cfg.DatabaseURL = dbURL
	cfg.RedisURL = testinfra.Env(t, "SERVICEPING_TEST_REDIS_URL")
	cfg.RedisPrefix = "instancee2e:" + t.Name() + ":"
	cfg.GatewayURL = gatewayURL
	cfg.DataDir = t.TempDir()
	cfg.MetricTimeout = 30 * time.Second
	cfg.StatementTimeout = 15 * time.Second
	cfg.Concurrency = 4
	cfg.SubmitAttempts = 2
	cfg.SubmitBackoff = 10 * time.Millisecond
	cfg.Instance.Hostname = "gitlab.e2e.example.com"
	if edit != nil {
		edit(&cfg)
	}
	col, err := collector.New(cfg, collector.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(col.Close)
	return col
}

// TestCollectorToLake: an instance computes its ping from its own
// PostgreSQL and Redis and submits it like GitLab does; the ping lands in
// the lake, its per-metric timings on the REPORTS stream, and a submission
// the gateway rejects yields an error report on the REPORTS stream.
func TestCollectorToLake(t *testing.T) {
	ctx := context.Background()
	dbURL := testinfra.PostgresDB(t, "instancee2e")
	if _, err := collector.SeedInstance(ctx, dbURL, 2000, time.Now()); err != nil {
		t.Fatal(err)
	}
	p := pipelinetest.Start(t, nil)

	col := newCollector(t, dbURL, p.GatewayURL, nil)
	built, err := col.Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	score, err := col.Send(ctx)
	if err != nil {
		t.Fatalf("collector send: %v", err)
	}
	if score.UsageDataID <= 0 {
		t.Fatalf("usage_data_id %d, want positive", score.UsageDataID)
	}

	// The ping in the lake: the collector's uuid, and the values it computed.
	var payload map[string]any
	testinfra.Eventually(t, 60*time.Second, "the collector's ping in the lake", func() error {
		pings, _, err := lake.ReadDir(p.LakeURL)
		if err != nil {
			t.Fatal(err)
		}
		for _, pr := range pings {
			if pr.UUID == col.UUID() {
				if err := json.Unmarshal([]byte(pr.Payload), &payload); err != nil {
					t.Fatal(err)
				}
				udi, _ := ping.UsageDataID(pr.PingID)
				if udi != score.UsageDataID {
					t.Errorf("lake ping %s has usage_data_id %d, collector was told %d", pr.PingID, udi, score.UsageDataID)
				}
			}
		}
		if payload == nil {
			return fmt.Errorf("%d pings in the lake, none from %s", len(pings), col.UUID())
		}
		return nil
	})
	// Counts computed from the seeded database are what the collector built
	// (the built payload and the sent one were computed from the same data).
	wantCounts, _ := built.Payload["counts"].(map[string]any)
	gotCounts, _ := payload["counts"].(map[string]any)
	if len(wantCounts) == 0 {
		t.Fatal("the collector built no counts")
	}
	for k, v := range wantCounts {
		if strings.Contains(k, "_weekly") || strings.Contains(k, "_monthly") {
			continue // time windows may shift between the two computations
		}
		if gv, ok := gotCounts[k]; !ok || jsonNumber(gv) != jsonNumber(v) {
			t.Errorf("counts.%s in the lake = %v, collector built %v", k, gv, v)
		}
	}

	js, err := p.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	// Per-metric timings arrive on serviceping.reports.metadata.
	var timings servicepingv1.MetricTimings
	waitMessage(t, js, streams.SubjectMetadata, &timings, func() bool { return timings.Uuid == col.UUID() })
	if len(timings.Metrics) < 100 {
		t.Errorf("metadata lists %d metric timings, want one per metric (>=100)", len(timings.Metrics))
	}

	// An induced failure: a version the gateway rejects (over 64 characters)
	// makes the submission fail, and the collector reports the error.
	bad := newCollector(t, dbURL, p.GatewayURL, func(c *collector.Config) {
		c.Instance.UUID = "e2e-failing-instance"
		c.Instance.Version = strings.Repeat("9", 80)
	})
	if _, err := bad.Send(ctx); err == nil {
		t.Fatal("a ping the gateway rejects was reported as sent")
	}
	var report servicepingv1.ErrorReport
	waitMessage(t, js, streams.SubjectErrors, &report, func() bool { return report.Uuid == "e2e-failing-instance" })
	if report.Message == "" || !strings.Contains(report.Message, "400") {
		t.Errorf("error report message %q does not say what failed", report.Message)
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// waitMessage polls subject on the REPORTS stream until a message decoded
// into m satisfies ok.
func waitMessage(t *testing.T, js jetstream.JetStream, subject string, m proto.Message, ok func() bool) {
	t.Helper()
	ctx := context.Background()
	testinfra.Eventually(t, 30*time.Second, "a matching message on "+subject, func() error {
		cons, err := js.OrderedConsumer(ctx, streams.Reports, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
		if err != nil {
			t.Fatal(err)
		}
		batch, err := cons.FetchNoWait(100)
		if err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			t.Fatal(err)
		}
		seen := 0
		for msg := range batch.Messages() {
			if err := proto.Unmarshal(msg.Data(), m); err != nil {
				t.Fatal(err)
			}
			if ok() {
				return nil
			}
			seen++
		}
		return fmt.Errorf("none of the %d messages on %s matches", seen, subject)
	})
}
