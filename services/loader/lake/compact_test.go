package lake

import (
	"context"
	"crypto/sha256"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/tables"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// compactDay is the day the tests' pings are received.
const compactDay = "2026-02-10"

// dupBatches are the batches of a day with injected duplicates: pings 0–5
// in one batch, pings 3–8 again in another (a batch rewritten under another
// id after a crash), and ping 2 re-enriched with a larger version. want is
// what compaction must keep: pings 0–8 once, ping 2 in its new version.
func dupBatches(t *testing.T) (batches []rows.Batch, want map[string]rows.Record) {
	t.Helper()
	base := time.Date(2026, 2, 10, 1, 0, 0, 0, time.UTC)
	recs := records(t, 9, func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) })
	reenriched := recs[2]
	reenriched.Ping.RowVersion++
	reenriched.Ping.EnrichmentStatus = "matched"
	batches = []rows.Batch{rows.NewBatch(recs[:6]), rows.NewBatch(recs[3:]), rows.NewBatch([]rows.Record{reenriched})}
	want = map[string]rows.Record{}
	for _, r := range recs {
		want[r.Ping.PingID] = r
	}
	want[reenriched.Ping.PingID] = reenriched
	return batches, want
}

// checkLake reads pings and metrics and requires exactly want's pings, each
// with exactly its metric rows — or, with dups, at least them.
func checkLake(t *testing.T, pings []rows.Ping, metrics []rows.Metric, want map[string]rows.Record, exact bool) {
	t.Helper()
	got := map[string][]rows.Ping{}
	for _, p := range pings {
		got[p.PingID] = append(got[p.PingID], p)
	}
	perPing := map[string]int{}
	for _, m := range metrics {
		if m.RowVersion == want[m.PingID].Ping.RowVersion {
			perPing[m.PingID]++
		}
	}
	for id, r := range want {
		ps := got[id]
		if len(ps) == 0 {
			t.Fatalf("ping %s lost", id)
		}
		if exact && (len(ps) != 1 || !samePing(ps[0], r.Ping)) {
			t.Fatalf("ping %s: %d rows (version %d), want one of version %d", id, len(ps), ps[0].RowVersion, r.Ping.RowVersion)
		}
		leaves := len(r.AppendMetrics(nil))
		if n := perPing[id]; n < leaves || (exact && n != leaves) {
			t.Fatalf("ping %s: %d metric rows of its version, want %d", id, n, leaves)
		}
	}
	if exact && (len(pings) != len(want) || len(got) != len(want)) {
		t.Fatalf("%d ping rows of %d pings, want %d", len(pings), len(got), len(want))
	}
}

func writeAll(t *testing.T, w interface {
	Write(context.Context, rows.Batch) error
}, batches []rows.Batch) {
	t.Helper()
	for _, b := range batches {
		if err := w.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
}

// fileSums are the lake's files with their SHA-256.
func fileSums(t *testing.T, root string) map[string][32]byte {
	t.Helper()
	files, err := Files(root)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = sha256.Sum256(b)
	}
	return out
}

// TestCompactDir: a day with injected duplicates becomes one file per
// table with one row per ping (its largest version) and exactly its metric
// rows; compacting again changes no byte.
func TestCompactDir(t *testing.T) {
	t.Parallel()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	batches, want := dupBatches(t)
	writeAll(t, d, batches)
	pings, _, err := ReadDir(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	if len(pings) != 13 {
		t.Fatalf("the fixture holds %d ping rows, want 13 (9 pings, 4 duplicates)", len(pings))
	}
	res, err := d.Compact(context.Background(), compactDay)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 6 || res.PingRows != 13 || res.Pings != 9 {
		t.Errorf("result %+v", res)
	}
	pings, metrics, err := ReadDir(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	checkLake(t, pings, metrics, want, true)
	files, err := Files(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{Key(tables.Metrics, compactDay, CompactedBatch), Key(tables.Pings, compactDay, CompactedBatch)}
	if !slices.Equal(files, wantFiles) {
		t.Fatalf("files %v, want %v", files, wantFiles)
	}
	before := fileSums(t, d.Root())
	if _, err := d.Compact(context.Background(), compactDay); err != nil {
		t.Fatal(err)
	}
	if after := fileSums(t, d.Root()); !maps.Equal(before, after) {
		t.Fatal("compacting a compacted day changed its files")
	}
	days, err := d.Days(context.Background())
	if err != nil || !slices.Equal(days, []string{compactDay}) {
		t.Fatalf("Days = %v, %v", days, err)
	}
	if _, err := d.Compact(context.Background(), "2026-2-10"); err == nil {
		t.Error("a malformed day was accepted")
	}
}

var errCrash = errors.New("crash")

// finish checks that an interrupted compaction left every row of want in
// the lake, compacts the day again, and checks that exactly want is left.
func finish(t *testing.T, d *Dir, want map[string]rows.Record) {
	t.Helper()
	for _, exact := range []bool{false, true} {
		pings, metrics, err := ReadDir(d.Root())
		if err != nil {
			t.Fatal(err)
		}
		checkLake(t, pings, metrics, want, exact)
		if !exact {
			if _, err := d.Compact(context.Background(), compactDay); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestCompactDirCrash: a compaction stopped at each of its steps leaves a
// lake where no ping or metric row is missing, and the next run finishes
// it; a batch the loader writes during a compaction is kept.
func TestCompactDirCrash(t *testing.T) {
	t.Parallel()
	for _, at := range []string{"staged " + tables.Metrics, "switched " + tables.Metrics, "staged " + tables.Pings, "switched " + tables.Pings} {
		t.Run(at, func(t *testing.T) {
			d, err := NewDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			batches, want := dupBatches(t)
			writeAll(t, d, batches)
			_, err = d.compact(context.Background(), compactDay, func(step string) error {
				if step == at {
					return errCrash
				}
				return nil
			})
			if !errors.Is(err, errCrash) {
				t.Fatalf("compaction went past %q: %v", at, err)
			}
			finish(t, d, want)
		})
	}

	t.Run("a batch written meanwhile", func(t *testing.T) {
		d, err := NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		batches, want := dupBatches(t)
		writeAll(t, d, batches[:2])
		late := batches[2] // written after the days' files were read
		_, err = d.compact(context.Background(), compactDay, func(step string) error {
			if step == "staged "+tables.Metrics {
				return d.Write(context.Background(), late)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		finish(t, d, want)
	})
}

// TestCompactS3: the same on a real MinIO, with a crash between putting
// the compacted metrics object and deleting what it replaces.
func TestCompactS3(t *testing.T) {
	ctx := context.Background()
	s := minioLake(t, "s3://lake/compact")
	batches, want := dupBatches(t)
	writeAll(t, s, batches)
	_, err := s.compact(ctx, compactDay, func(step string) error {
		if step == "put "+tables.Metrics {
			return errCrash
		}
		return nil
	})
	if !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	pings, metrics, err := ReadS3(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	checkLake(t, pings, metrics, want, false)
	for range 2 { // finishing the crashed run, then once more: nothing changes
		if _, err := s.Compact(ctx, compactDay); err != nil {
			t.Fatal(err)
		}
		pings, metrics, err = ReadS3(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		checkLake(t, pings, metrics, want, true)
	}
	keys, err := s.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{Key(tables.Metrics, compactDay, CompactedBatch), Key(tables.Pings, compactDay, CompactedBatch)}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("keys %v, want %v", keys, wantKeys)
	}
	days, err := s.Days(ctx)
	if err != nil || !slices.Equal(days, []string{compactDay}) {
		t.Fatalf("Days = %v, %v", days, err)
	}
}
