package lake

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"time"

	"flag"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/tables"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/internal/testpings"
	"github.com/serviceping/serviceping/services/loader/rows"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestSchemaGolden(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]string{
		"pings.schema.golden":        PingsSchema().String(),
		"ping_metrics.schema.golden": MetricsSchema().String(),
	} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, []byte(s+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read golden (run with -update to create): %v", err)
		}
		if s+"\n" != string(want) {
			t.Errorf("%s differs (run with -update after checking):\n%s", path, s)
		}
	}
}

func records(t testing.TB, n int, receivedAt func(i int) time.Time) []rows.Record {
	t.Helper()
	return testpings.Records(t, n, func(g *pinggen.Generator, i int) (*servicepingv1.EnrichedPing, error) {
		return testpings.Enriched(g.JSON(pinggen.Spec{Instance: i, Week: 2}), receivedAt(i))
	})
}

// samePing compares rows by value, the lake's times whole.
func samePing(got, want rows.Ping) bool { return testpings.SamePing(got, want, 0) }

// sameMetric compares rows by value, the lake's times whole and in UTC.
func sameMetric(got, want rows.Metric) bool {
	return got.RecordedAt.Location() == time.UTC && testpings.SameMetric(got, want, 0)
}

func TestDirRoundTrip(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 1, 19, 23, 0, 0, 0, time.UTC)
	// Pings received on two UTC dates: the batch writes one file per dt per table.
	recs := records(t, 6, func(i int) time.Time { return day.Add(time.Duration(i) * 30 * time.Minute) })
	b := rows.NewBatch(recs)
	root := t.TempDir()
	d, err := NewDir(filepath.Join(root, "lake"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write(context.Background(), b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	files, err := Files(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		Key(tables.Metrics, "2026-01-19", b.ID), Key(tables.Metrics, "2026-01-20", b.ID),
		Key(tables.Pings, "2026-01-19", b.ID), Key(tables.Pings, "2026-01-20", b.ID),
	}
	if !slices.Equal(files, want) {
		t.Fatalf("files = %v, want %v", files, want)
	}

	// Rewriting the same batch replaces its files: same keys, same rows.
	if err := d.Write(context.Background(), b); err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	if files2, _ := Files(d.Root()); !slices.Equal(files2, want) {
		t.Fatalf("after rewrite files = %v, want %v", files2, want)
	}
	assertNoTemp(t, d.Root())

	pings, metrics, err := ReadDir(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	byDT := b.Partitions()
	var wantPings []rows.Ping
	var wantMetrics []rows.Metric
	for _, p := range byDT {
		for _, r := range p.Records {
			wantPings = append(wantPings, r.Ping)
			wantMetrics = r.AppendMetrics(wantMetrics)
		}
	}
	if len(pings) != len(wantPings) {
		t.Fatalf("read %d pings, want %d", len(pings), len(wantPings))
	}
	for i := range pings {
		if !samePing(pings[i], wantPings[i]) {
			g, w := pings[i], wantPings[i]
			g.Payload, w.Payload = g.Payload[:min(len(g.Payload), 40)], w.Payload[:min(len(w.Payload), 40)]
			t.Fatalf("ping %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if len(metrics) != len(wantMetrics) {
		t.Fatalf("read %d metrics, want %d", len(metrics), len(wantMetrics))
	}
	for i := range metrics {
		if !sameMetric(metrics[i], wantMetrics[i]) {
			t.Fatalf("metric %d:\n got %+v\nwant %+v", i, metrics[i], wantMetrics[i])
		}
	}
}

func assertNoTemp(t *testing.T, root string) {
	t.Helper()
	_ = filepath.WalkDir(root, func(path string, de os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".tmp") {
			t.Errorf("temporary file left behind: %s", path)
		}
		return nil
	})
}

// failingWriter fails after n bytes.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, io.ErrShortWrite
	}
	w.n -= len(p)
	return len(p), nil
}

func TestEncodeErrorsSurface(t *testing.T) {
	t.Parallel()
	recs := records(t, 2, func(int) time.Time { return time.Date(2026, 1, 19, 0, 0, 0, 0, time.UTC) })
	if err := EncodeMetrics(&failingWriter{n: 100}, "x", recs); err == nil {
		t.Error("EncodeMetrics on a failing writer succeeded")
	}
	if err := EncodePings(&failingWriter{n: 100}, "x", recs); err == nil {
		t.Error("EncodePings on a failing writer succeeded")
	}
	var buf bytes.Buffer
	if err := EncodePings(&buf, "x", nil); err != nil {
		t.Errorf("EncodePings with no rows: %v", err)
	}
}

func TestDirWriteCancelled(t *testing.T) {
	t.Parallel()
	recs := records(t, 1, func(int) time.Time { return time.Date(2026, 1, 19, 0, 0, 0, 0, time.UTC) })
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Write(ctx, rows.NewBatch(recs)); err == nil {
		t.Fatal("Write with a cancelled context succeeded")
	}
	if files, _ := Files(d.Root()); len(files) != 0 {
		t.Fatalf("files written despite cancellation: %v", files)
	}
}

func BenchmarkEncodeMetrics(b *testing.B) {
	recs := records(b, 50, func(int) time.Time { return time.Date(2026, 1, 19, 0, 0, 0, 0, time.UTC) })
	n := rows.NewBatch(recs).NumMetrics()
	var size int64
	b.ReportAllocs()
	for b.Loop() {
		var buf bytes.Buffer
		if err := EncodeMetrics(&buf, "bench", recs); err != nil {
			b.Fatal(err)
		}
		size = int64(buf.Len())
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(size)/float64(n), "file_B/row")
}

func BenchmarkDirWrite(b *testing.B) {
	recs := records(b, 50, func(int) time.Time { return time.Date(2026, 1, 19, 0, 0, 0, 0, time.UTC) })
	batch := rows.NewBatch(recs)
	d, err := NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := d.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch.NumMetrics()+len(recs))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "pings/s")
}
