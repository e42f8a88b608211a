package warehouse_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/consume"
	"github.com/serviceping/serviceping/pkg/pinggen"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/internal/testpings"
	"github.com/serviceping/serviceping/services/loader/rows"
	"github.com/serviceping/serviceping/services/loader/warehouse"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

func openSink(t *testing.T, prefix string, opts warehouse.Options) *warehouse.Sink {
	t.Helper()
	s, err := warehouse.Open(context.Background(), chtest.URL(t, chtest.Database(t, prefix)), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// records builds n generated full-size pings (instances from..from+n) of
// the given week; every third has no license, every fifth no
// active_user_count.
func records(t *testing.T, from, n, week int) []rows.Record {
	t.Helper()
	return testpings.Records(t, n, func(g *pinggen.Generator, i int) (*servicepingv1.EnrichedPing, error) {
		ep, err := testpings.Generated(g, from+i, week)
		if err != nil {
			return nil, err
		}
		if (from+i)%3 == 0 {
			ep.License = nil
		}
		if (from+i)%5 == 0 {
			ep.Instance.HasActiveUserCount = false
		}
		return ep, nil
	})
}

func count(t *testing.T, s *warehouse.Sink, sql string) uint64 {
	t.Helper()
	return chtest.Count(t, s.Conn(), strings.ReplaceAll(sql, "DB.", s.Database()+"."))
}

// checkCount checks that count gives want for sql.
func checkCount(t *testing.T, s *warehouse.Sink, sql string, want uint64) {
	t.Helper()
	if n := count(t, s, sql); n != want {
		t.Errorf("%s = %d, want %d", sql, n, want)
	}
}

// TestRoundTrip writes full-size pings and reads every column of both
// tables back: each value equal to what went in, nulls included.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openSink(t, "wh_roundtrip", warehouse.Options{MaxRowsPerInsert: 5000})
	recs := records(t, 0, 6, 1)
	b := rows.NewBatch(recs)
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count() FROM DB.pings FINAL"); n != 6 {
		t.Fatalf("pings FINAL = %d, want 6", n)
	}
	want := map[string]rows.Ping{}
	for _, r := range b.Records {
		want[r.Ping.PingID] = r.Ping
	}
	q, err := s.Conn().Query(ctx, "SELECT ping_id, usage_data_id, uuid, hostname, version, edition, installation_type, recorded_at, received_at, "+
		"active_user_count, license_md5, license_sha256, license_id, license_plan, license_user_count, license_starts_at, license_expires_at, "+
		"license_trial, subscription_id, account_id, enrichment_status, payload, _version FROM "+s.Database()+".pings FINAL")
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for q.Next() {
		var p rows.Ping
		var starts, expires *time.Time
		if err := q.Scan(&p.PingID, &p.UsageDataID, &p.UUID, &p.Hostname, &p.Version, &p.Edition, &p.InstallationType, &p.RecordedAt, &p.ReceivedAt,
			&p.ActiveUserCount, &p.LicenseMD5, &p.LicenseSHA256, &p.LicenseID, &p.LicensePlan, &p.LicenseUserCount, &starts, &expires,
			&p.LicenseTrial, &p.SubscriptionID, &p.AccountID, &p.EnrichmentStatus, &p.Payload, &p.RowVersion); err != nil {
			t.Fatal(err)
		}
		if starts != nil {
			d := rows.DateOf(*starts)
			p.LicenseStartsAt = &d
		}
		if expires != nil {
			d := rows.DateOf(*expires)
			p.LicenseExpiresAt = &d
		}
		w, ok := want[p.PingID]
		if !ok {
			t.Fatalf("unexpected ping %s", p.PingID)
		}
		if !testpings.SamePing(p, w, time.Millisecond) {
			t.Errorf("ping %s:\n got %+v\nwant %+v", p.PingID, brief(p), brief(w))
		}
		got++
	}
	q.Close()
	if got != 6 {
		t.Fatalf("read %d pings", got)
	}
	var noLicense uint64
	for _, r := range b.Records {
		if r.Ping.LicenseTrial == nil {
			noLicense++
		}
	}
	if noLicense < 2 {
		t.Fatalf("only %d pings without license: the test must cover nulls", noLicense)
	}
	checkCount(t, s, "SELECT countIf(license_trial IS NULL AND license_user_count IS NULL) FROM DB.pings", noLicense)

	// ping_metrics: every row of every ping, in payload order per ping.
	for _, r := range b.Records {
		wantM := r.AppendMetrics(nil)
		q, err := s.Conn().Query(ctx, "SELECT ping_id, uuid, recorded_at, key_path, value, value_string, value_kind, is_fallback, _version FROM "+
			s.Database()+".ping_metrics FINAL WHERE ping_id = ? ORDER BY key_path", r.Ping.PingID)
		if err != nil {
			t.Fatal(err)
		}
		var gotM []rows.Metric
		for q.Next() {
			var m rows.Metric
			if err := q.Scan(&m.PingID, &m.UUID, &m.RecordedAt, &m.KeyPath, &m.Value, &m.ValueString, &m.ValueKind, &m.IsFallback, &m.RowVersion); err != nil {
				t.Fatal(err)
			}
			gotM = append(gotM, m)
		}
		q.Close()
		slices.SortFunc(wantM, func(a, b rows.Metric) int { return strings.Compare(a.KeyPath, b.KeyPath) })
		if len(gotM) != len(wantM) {
			t.Fatalf("ping %s: %d metric rows, want %d", r.Ping.PingID, len(gotM), len(wantM))
		}
		for i := range gotM {
			if !testpings.SameMetric(gotM[i], wantM[i], time.Millisecond) {
				t.Fatalf("ping %s metric %d:\n got %+v\nwant %+v", r.Ping.PingID, i, gotM[i], wantM[i])
			}
		}
	}
	kinds := count(t, s, "SELECT uniqExact(value_kind) FROM DB.ping_metrics")
	if kinds < 3 {
		t.Errorf("only %d value kinds in the generated pings; the round trip should cover numbers, strings and more", kinds)
	}
}

func brief(p rows.Ping) rows.Ping { p.Payload = p.Payload[:min(len(p.Payload), 40)]; return p }

// TestRetriedBatchIsNoOp writes the same batch twice (a retry after a
// lost answer, a redelivery batched the same way): the raw tables, not
// only FINAL, hold each row once.
func TestRetriedBatchIsNoOp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openSink(t, "wh_retry", warehouse.Options{MaxRowsPerInsert: 3000})
	// Two months, several parts per month.
	recs := append(records(t, 0, 3, 1), records(t, 3, 3, 8)...)
	b := rows.NewBatch(recs)
	for range 3 {
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s, "SELECT uniqExact(toYYYYMM(recorded_at)) FROM DB.pings"); n != 2 {
		t.Fatalf("pings span %d months, want 2", n)
	}
	checkCount(t, s, "SELECT count() FROM DB.pings", 6)
	checkCount(t, s, "SELECT count() FROM DB.ping_metrics", uint64(b.NumMetrics()))

	// The same pings in another batch (redelivered, batched differently):
	// stored again, collapsed by FINAL and the views.
	if err := s.Write(ctx, rows.NewBatch(recs[:4])); err != nil {
		t.Fatal(err)
	}
	checkCount(t, s, "SELECT count() FROM DB.pings FINAL", 6)
	checkCount(t, s, "SELECT count() FROM DB.pings_latest", 6)
	checkCount(t, s, "SELECT count() FROM DB.ping_metrics_latest", uint64(b.NumMetrics()))
}

// TestReenrichedPingReplaces: the same ping ids with a later enrichment
// form a batch with the same ID; its rows must land (not be taken for a
// retry) and win in FINAL.
func TestReenrichedPingReplaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openSink(t, "wh_reenrich", warehouse.Options{})
	ep := testpings.One(t, 1, 1)
	var bld rows.Builder
	first, _ := bld.Build(ep, time.Time{})
	ep.Enrichment.AccountId = "acct-new"
	ep.Enrichment.EnrichedAt = timestamppb.New(ep.GetReceivedAt().AsTime().Add(time.Hour))
	second, _ := bld.Build(ep, time.Time{})
	b1, b2 := rows.NewBatch([]rows.Record{first}), rows.NewBatch([]rows.Record{second})
	if b1.ID != b2.ID {
		t.Fatalf("batch ids differ: %s %s", b1.ID, b2.ID)
	}
	for _, b := range []rows.Batch{b1, b2} {
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	var acct string
	if err := s.Conn().QueryRow(ctx, "SELECT account_id FROM "+s.Database()+".pings_latest").Scan(&acct); err != nil {
		t.Fatal(err)
	}
	if acct != "acct-new" {
		t.Errorf("account_id = %q after re-enrichment, want acct-new", acct)
	}
	checkCount(t, s, "SELECT count() FROM DB.ping_metrics_latest", uint64(first.NumMetrics()))
}

func TestClassify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.Conn(t, "")
	tests := []struct {
		sql       string
		permanent bool
	}{
		{"SELECT toDate('not a date')", true},
		{"SELECT CAST('abc' AS UInt8)", true},
		{"SELECT * FROM no_such_db.pings", false},
		{"SELEC 1", false},
	}
	for _, tt := range tests {
		err := conn.Exec(ctx, tt.sql)
		var ex *clickhouse.Exception
		if !errors.As(err, &ex) {
			t.Fatalf("%s: %v is not a ClickHouse exception", tt.sql, err)
		}
		if got := consume.IsPermanent(warehouse.Classify(err)); got != tt.permanent {
			t.Errorf("%s (code %d): permanent = %v, want %v", tt.sql, ex.Code, got, tt.permanent)
		}
	}
	if consume.IsPermanent(warehouse.Classify(errors.New("dial tcp: connection refused"))) {
		t.Error("a connection error must be transient")
	}
}

func TestOpenFailsFastOnBadURL(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := warehouse.Open(ctx, "ftp://x/y", warehouse.Options{}); err == nil {
		t.Error("Open accepted an ftp:// URL")
	}
	if _, err := warehouse.Open(ctx, "http://127.0.0.1:1/serviceping", warehouse.Options{}); err == nil {
		t.Error("Open succeeded against a closed port")
	}
}

func chtestURL(b *testing.B) string { return chtest.URL(b, chtest.Database(b, "wh_bench")) }

func benchRecords(b *testing.B, n int) []rows.Record {
	return testpings.Records(b, n, func(g *pinggen.Generator, i int) (*servicepingv1.EnrichedPing, error) {
		return testpings.Generated(g, i, 1)
	})
}

// TestSkipMigrations: with the loader's migrations switched off, a
// database that lacks them is refused with the command to run; once
// `serviceping migrate` (Migrate) has run, the sink opens.
func TestSkipMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := chtest.Database(t, "wh_skip")
	_, err := warehouse.Open(ctx, chtest.URL(t, db), warehouse.Options{SkipMigrations: true})
	if err == nil || !strings.Contains(err.Error(), "serviceping migrate") {
		t.Fatalf("Open of an unmigrated database: %v", err)
	}
	conn := chtest.Conn(t, "")
	done, err := warehouse.Migrate(ctx, conn, db, "", nil)
	if err != nil || len(done) == 0 {
		t.Fatalf("Migrate: %v, %v", done, err)
	}
	s, err := warehouse.Open(ctx, chtest.URL(t, db), warehouse.Options{SkipMigrations: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
}
