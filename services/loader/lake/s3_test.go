package lake

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/tables"
	"github.com/serviceping/serviceping/services/loader/internal/miniotest"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// minioLake is the lake rawURL (bucket "lake") on a MinIO of the test's own.
func minioLake(t *testing.T, rawURL string) *S3 {
	t.Helper()
	m := miniotest.Start(t)
	m.Bucket(t, "lake")
	m.SetCredentials(t)
	s, err := OpenS3(context.Background(), rawURL, S3Options{Endpoint: m.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestS3RoundTripAndRewrite writes batches to a real MinIO, reads them back
// equal, and rewrites one: its objects are replaced, not added.
func TestS3RoundTripAndRewrite(t *testing.T) {
	ctx := context.Background()
	s := minioLake(t, "s3://lake/prod/v1")
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Root() != "s3://lake/prod/v1" {
		t.Errorf("root %s", s.Root())
	}
	base := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	recs := records(t, 4, func(i int) time.Time { return base.Add(time.Duration(i) * 40 * time.Minute) })
	b := rows.NewBatch(recs)
	for range 2 {
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := s.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		Key(tables.Metrics, "2026-03-01", b.ID), Key(tables.Metrics, "2026-03-02", b.ID),
		Key(tables.Pings, "2026-03-01", b.ID), Key(tables.Pings, "2026-03-02", b.ID),
	}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	pings, metrics, err := ReadS3(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(pings) != 4 || len(metrics) != b.NumMetrics() {
		t.Fatalf("read %d pings, %d metrics; want 4, %d", len(pings), len(metrics), b.NumMetrics())
	}
	byID := map[string]rows.Ping{}
	for _, p := range pings {
		byID[p.PingID] = p
	}
	for _, r := range b.Records {
		if !samePing(byID[r.Ping.PingID], r.Ping) {
			t.Errorf("ping %s differs after the round trip", r.Ping.PingID)
		}
	}
	var wantM []rows.Metric
	for _, r := range b.Records {
		wantM = r.AppendMetrics(wantM)
	}
	key := func(m rows.Metric) string { return m.PingID + m.KeyPath }
	slices.SortFunc(wantM, func(a, b rows.Metric) int { return compareStr(key(a), key(b)) })
	slices.SortFunc(metrics, func(a, b rows.Metric) int { return compareStr(key(a), key(b)) })
	for i := range metrics {
		if !sameMetric(metrics[i], wantM[i]) {
			t.Fatalf("metric %d: %+v, want %+v", i, metrics[i], wantM[i])
		}
	}
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestParseS3URL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, bucket, prefix string
		ok                 bool
	}{
		{"s3://b", "b", "", true},
		{"s3://b/", "b", "", true},
		{"s3://b/p/q/", "b", "p/q", true},
		{"s3:///p", "", "", false},
		{"gs://b/p", "", "", false},
		{"s3://b/p?x=1", "", "", false},
	} {
		b, p, err := ParseS3URL(tt.in)
		if (err == nil) != tt.ok || b != tt.bucket || p != tt.prefix {
			t.Errorf("ParseS3URL(%q) = %q, %q, %v", tt.in, b, p, err)
		}
	}
}

// BenchmarkS3Write puts batches of 50 full-size pings into a real MinIO.
func BenchmarkS3Write(b *testing.B) {
	m := miniotest.Start(b)
	m.Bucket(b, "bench")
	m.SetCredentials(b)
	s, err := OpenS3(context.Background(), "s3://bench/lake", S3Options{Endpoint: m.Endpoint})
	if err != nil {
		b.Fatal(err)
	}
	recs := records(b, 50, func(int) time.Time { return time.Date(2026, 1, 19, 0, 0, 0, 0, time.UTC) })
	batch := rows.NewBatch(recs)
	for b.Loop() {
		if err := s.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch.NumMetrics()+len(recs))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "pings/s")
}
