package loader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/warehouse"
)

// gatewayReport builds a report as the gateway does (report_id = SHA-256
// of the body, Nats-Msg-Id = report_id) and publishes it on REPORTS.
// msgID overrides the Nats-Msg-Id, to deliver the same report twice.
func (e *env) publishReport(t *testing.T, subject string, m proto.Message, msgID string) {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := e.js.PublishMsg(context.Background(), &nats.Msg{Subject: subject, Data: data},
		jetstream.WithMsgID(msgID), jetstream.WithExpectStream(streams.Reports))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Duplicate {
		t.Fatalf("report %s dropped as a duplicate", msgID)
	}
}

func reportID(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

var receivedAt = time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

func errorReport(i int) *servicepingv1.ErrorReport {
	body := `{"error":{"uuid":"u-` + string(rune('a'+i)) + `","message":"boom"}}`
	return &servicepingv1.ErrorReport{
		ReportId: reportID(body), Uuid: "u-" + string(rune('a'+i)), Hostname: "gitlab.example.com", Version: "17.9.1-ee",
		Message: "PG::QueryCanceled: canceling statement", Elapsed: 12.5 + float64(i), Time: "2025-03-14 09:26:41 UTC",
		ReceivedAt: timestamppb.New(receivedAt), Raw: []byte(body),
	}
}

func metricTimings(uuid string) *servicepingv1.MetricTimings {
	body := `{"metadata":{"uuid":"` + uuid + `"}}`
	return &servicepingv1.MetricTimings{
		ReportId: reportID(body), Uuid: uuid, ReceivedAt: timestamppb.New(receivedAt), Raw: []byte(body),
		Metrics: []*servicepingv1.MetricTiming{
			{Name: "counts.issues", TimeElapsed: 0.25},
			{Name: "counts.merge_requests", TimeElapsed: 1.5, Error: "timeout"},
		},
	}
}

// startReports runs a loader whose only ping sink is a lake directory and
// whose reports go to wh.
func (e *env) startReports(t *testing.T, cfg Config, wh *warehouse.Sink) *running {
	t.Helper()
	dir := newDir(t)
	cfg.LakeURL = dir.Root()
	return e.startDeps(t, cfg, Deps{Sinks: []Sink{dir}, Reports: wh})
}

func waitReportsAcked(t *testing.T, e *env, n uint64, within time.Duration) {
	t.Helper()
	testinfra.Eventually(t, within, "reports acked", func() error { return ackedTo(e.streamConsumerInfo(t, streams.Reports), n) })
}

type errorRow struct {
	ReportID   string    `ch:"report_id"`
	UUID       string    `ch:"uuid"`
	Hostname   string    `ch:"hostname"`
	Version    string    `ch:"version"`
	Message    string    `ch:"message"`
	Time       string    `ch:"time"`
	Elapsed    float64   `ch:"elapsed"`
	ReceivedAt time.Time `ch:"received_at"`
}

type timingRow struct {
	ReportID    string    `ch:"report_id"`
	UUID        string    `ch:"uuid"`
	Metric      string    `ch:"metric"`
	Error       string    `ch:"error"`
	TimeElapsed float64   `ch:"time_elapsed"`
	ReceivedAt  time.Time `ch:"received_at"`
}

// checkRows reads table (query in database db) and compares its rows with
// want in order: received_at as an instant (its zone may differ), every
// other column exactly.
func checkRows[R comparable](t *testing.T, db, table, query string, want []R, receivedAt func(*R) *time.Time) {
	t.Helper()
	var got []R
	if err := chtest.Conn(t, db).Select(context.Background(), &got, query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s FINAL has %d rows, want %d: %+v", table, len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if gt, wt := receivedAt(&g), receivedAt(&w); !gt.Equal(*wt) {
			t.Errorf("%s row %d received_at %s, want %s", table, i, *gt, *wt)
		}
		*receivedAt(&g), *receivedAt(&w) = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("%s row %d:\n got %+v\nwant %+v", table, i, g, w)
		}
	}
}

func checkReports(t *testing.T, db string, errs []*servicepingv1.ErrorReport, timings []*servicepingv1.MetricTimings) {
	t.Helper()
	var wantErrs []errorRow
	for _, r := range errs {
		wantErrs = append(wantErrs, errorRow{ReportID: r.GetReportId(), UUID: r.GetUuid(), Hostname: r.GetHostname(), Version: r.GetVersion(),
			Message: r.GetMessage(), Time: r.GetTime(), Elapsed: r.GetElapsed(), ReceivedAt: r.GetReceivedAt().AsTime()})
	}
	checkRows(t, db, "ping_errors", "SELECT report_id, uuid, hostname, version, message, time, elapsed, received_at FROM ping_errors FINAL ORDER BY uuid",
		wantErrs, func(r *errorRow) *time.Time { return &r.ReceivedAt })
	var wantTimings []timingRow
	for _, r := range timings {
		for _, m := range r.GetMetrics() {
			wantTimings = append(wantTimings, timingRow{ReportID: r.GetReportId(), UUID: r.GetUuid(), Metric: m.GetName(),
				Error: m.GetError(), TimeElapsed: m.GetTimeElapsed(), ReceivedAt: r.GetReceivedAt().AsTime()})
		}
	}
	checkRows(t, db, "ping_metric_timings", "SELECT report_id, uuid, metric, error, time_elapsed, received_at FROM ping_metric_timings FINAL ORDER BY uuid, metric",
		wantTimings, func(r *timingRow) *time.Time { return &r.ReceivedAt })
}

func rawCount(t *testing.T, db, table string) uint64 {
	t.Helper()
	return chtest.Count(t, chtest.Conn(t, db), "SELECT count() FROM "+table)
}

// TestReportsLand publishes error reports and metric timings as the
// gateway does; each lands with its values, a report delivered twice
// (in one batch and again in a later one) lands once, and an undecodable
// message is dead-lettered without holding up the others.
func TestReportsLand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wh := openWarehouse(t, "reports_land")
	errs := []*servicepingv1.ErrorReport{errorReport(0), errorReport(1)}
	timings := []*servicepingv1.MetricTimings{metricTimings("u-a"), metricTimings("u-b")}
	for _, r := range errs {
		e.publishReport(t, streams.SubjectErrors, r, r.GetReportId())
	}
	for _, r := range timings {
		e.publishReport(t, streams.SubjectMetadata, r, r.GetReportId())
	}
	// The same reports again, past JetStream's duplicate window (new ids).
	e.publishReport(t, streams.SubjectErrors, errs[0], "again-"+errs[0].GetReportId())
	e.publishReport(t, streams.SubjectMetadata, timings[0], "again-"+timings[0].GetReportId())
	if _, err := e.js.Publish(context.Background(), streams.SubjectMetadata, []byte("\xff\xffnot a protobuf"), jetstream.WithMsgID("garbage")); err != nil {
		t.Fatal(err)
	}

	r := e.startReports(t, testConfig(""), wh)
	waitReportsAcked(t, e, 7, 20*time.Second)
	checkReports(t, wh.Database(), errs, timings)

	// Delivered twice in separate batches: the second insert is dropped.
	e.publishReport(t, streams.SubjectErrors, errs[1], "third-"+errs[1].GetReportId())
	e.publishReport(t, streams.SubjectMetadata, timings[1], "third-"+timings[1].GetReportId())
	waitReportsAcked(t, e, 9, 20*time.Second)
	checkReports(t, wh.Database(), errs, timings)
	if n := rawCount(t, wh.Database(), "ping_errors"); n != 2 {
		t.Errorf("ping_errors holds %d rows without FINAL, want 2", n)
	}
	if n := rawCount(t, wh.Database(), "ping_metric_timings"); n != 4 {
		t.Errorf("ping_metric_timings holds %d rows without FINAL, want 4", n)
	}

	dl := e.deadLetters(t, 1)[0]
	if dl.GetConsumer() != streams.ConsumerLoader || dl.GetSubject() != streams.SubjectMetadata ||
		!strings.Contains(dl.GetReason(), "decode report") || dl.GetStreamSequence() != 7 {
		t.Errorf("dead letter %+v", dl)
	}
	if got := testinfra.Metric(t, r.reg, "serviceping_loader_report_messages_total", map[string]string{"outcome": "dlq"}); got != 1 {
		t.Errorf("dlq outcome %v, want 1", got)
	}
	if got := testinfra.Metric(t, r.reg, "serviceping_loader_rows_written_total", map[string]string{"table": "ping_errors"}); got < 2 {
		t.Errorf("ping_errors rows written %v, want at least 2", got)
	}
}

// TestReportsDeadLetterNextToPings dead-letters a ping and a report with
// the same stream sequence: both dead letters are kept (the durable
// "loader" reads two streams).
func TestReportsDeadLetterNextToPings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wh := openWarehouse(t, "reports_dlq")
	if _, err := e.js.Publish(context.Background(), streams.SubjectEnriched, []byte("\xff\xffnot a ping"), jetstream.WithMsgID("bad-ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.Publish(context.Background(), streams.SubjectErrors, []byte("\xff\xffnot a report"), jetstream.WithMsgID("bad-report")); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("")
	r := e.startReports(t, cfg, wh)
	dls := e.deadLetters(t, 2)
	if dls[0].GetSubject() == dls[1].GetSubject() {
		t.Errorf("dead letters of %s and %s", dls[0].GetSubject(), dls[1].GetSubject())
	}

	// The REPORTS consumer is durable, explicit-ack and bounded, and a
	// restart with other settings updates it in place.
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
	cfg.MaxAckPending = 150
	e.startReports(t, cfg, wh)
	var c jetstream.ConsumerConfig
	testinfra.Eventually(t, 10*time.Second, "reports consumer updated", func() error {
		if c = e.streamConsumerInfo(t, streams.Reports).Config; c.MaxAckPending != 150 {
			return fmt.Errorf("max ack pending %d", c.MaxAckPending)
		}
		return nil
	})
	if c.Durable != streams.ConsumerLoader || c.AckPolicy != jetstream.AckExplicitPolicy || c.AckWait != cfg.AckWait ||
		c.MaxAckPending != 150 || c.MaxDeliver != -1 ||
		!slices.Equal(c.FilterSubjects, []string{streams.SubjectErrors, streams.SubjectMetadata}) {
		t.Errorf("reports consumer config %+v", c)
	}
}

// TestReportsClickHouseDown cuts ClickHouse: nothing is acked while it is
// away, and once it is back every report lands once.
func TestReportsClickHouseDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	proxy, wh := openProxiedWarehouse(t, "reports_down")
	cfg := faultConfig("")
	e.startReports(t, cfg, wh)

	first := errorReport(0)
	e.publishReport(t, streams.SubjectErrors, first, first.GetReportId())
	waitReportsAcked(t, e, 1, 20*time.Second)

	proxy.Cut()
	errs := []*servicepingv1.ErrorReport{first, errorReport(1), errorReport(2)}
	timings := []*servicepingv1.MetricTimings{metricTimings("u-b"), metricTimings("u-c")}
	for _, r := range errs[1:] {
		e.publishReport(t, streams.SubjectErrors, r, r.GetReportId())
	}
	for _, r := range timings {
		e.publishReport(t, streams.SubjectMetadata, r, r.GetReportId())
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if info := e.streamConsumerInfo(t, streams.Reports); info.AckFloor.Stream != 1 {
			t.Fatalf("ack floor moved to %d while ClickHouse was down", info.AckFloor.Stream)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	waitReportsAcked(t, e, 5, 30*time.Second)
	checkReports(t, wh.Database(), errs, timings)
	if n := rawCount(t, wh.Database(), "ping_errors"); n != 3 {
		t.Errorf("ping_errors holds %d rows without FINAL, want 3", n)
	}
}
