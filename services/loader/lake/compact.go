package lake

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"
	"golang.org/x/sys/unix"

	"github.com/serviceping/serviceping/pkg/tables"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// Compaction rewrites one day of the lake — every file of
// <table>/dt=<day>/ for pings and ping_metrics — as one file per table named
// CompactedBatch, keeping one row per ping (its largest _version, the first
// of equal ones) and that version's metric rows, one per key path. Rows
// are sorted (pings by ping_id, metrics by ping_id and key path), so the
// same rows always give the same file, and compacting a compacted day
// changes nothing. A crash at any point loses nothing and the next run
// finishes the work (docs/lake.md says how each backend switches a day).

// Store is a lake backend: a directory (Dir) or an S3 bucket (S3).
type Store interface {
	// Root names the lake: its directory or s3://bucket/prefix.
	Root() string
	// Write writes a batch's files (see Dir.Write, S3.Write).
	Write(ctx context.Context, b rows.Batch) error
	// Compact compacts one day (see Dir.Compact, S3.Compact).
	Compact(ctx context.Context, day string) (CompactResult, error)
	// Days lists the days the lake holds.
	Days(ctx context.Context) ([]string, error)
	// Check reports whether the lake can be written.
	Check(ctx context.Context) error
}

// Open opens the lake at rawURL: s3://bucket/prefix (with opts) or a
// directory.
func Open(ctx context.Context, rawURL string, opts S3Options) (Store, error) {
	if strings.HasPrefix(rawURL, "s3://") {
		return OpenS3(ctx, rawURL, opts)
	}
	return NewDir(rawURL)
}

// CompactedBatch is the batch name of a compacted day's files:
// <table>/dt=<day>/compacted.parquet.
const CompactedBatch = "compacted"

// CompactResult says what compacting a day did.
type CompactResult struct {
	Day string
	// Files are the files read (both tables).
	Files int
	// PingRows and MetricRows are the rows read; Pings and Metrics the
	// rows kept.
	PingRows, MetricRows int
	Pings, Metrics       int
}

// Dedupe keeps one row per ping — the largest RowVersion, the first of
// equal ones — and, of its metric rows, those of that version, one per key
// path; both sorted.
func Dedupe(pings []rows.Ping, metrics []rows.Metric) ([]rows.Ping, []rows.Metric) {
	keep := map[string]int{} // ping_id → index in pings
	for i, p := range pings {
		if j, ok := keep[p.PingID]; !ok || p.RowVersion > pings[j].RowVersion {
			keep[p.PingID] = i
		}
	}
	outP := make([]rows.Ping, 0, len(keep))
	version := make(map[string]uint64, len(keep))
	for _, i := range keep {
		outP = append(outP, pings[i])
		version[pings[i].PingID] = pings[i].RowVersion
	}
	slices.SortFunc(outP, func(a, b rows.Ping) int { return strings.Compare(a.PingID, b.PingID) })
	type key struct{ ping, path string }
	seen := map[key]bool{}
	var outM []rows.Metric
	for _, m := range metrics {
		v, ok := version[m.PingID]
		k := key{m.PingID, m.KeyPath}
		if !ok || m.RowVersion != v || seen[k] {
			continue
		}
		seen[k] = true
		outM = append(outM, m)
	}
	slices.SortStableFunc(outM, func(a, b rows.Metric) int {
		return cmp.Or(strings.Compare(a.PingID, b.PingID), strings.Compare(a.KeyPath, b.KeyPath))
	})
	return outP, outM
}

// ValidDay reports whether day is a partition name, YYYY-MM-DD.
func ValidDay(day string) error {
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return fmt.Errorf("day %q: want YYYY-MM-DD", day)
	}
	return nil
}

// encodeCompacted writes a table's kept rows of a day.
func encodeCompacted(w io.Writer, table string, pings []rows.Ping, metrics []rows.Metric) error {
	if table == tables.Pings {
		return writeRows(w, writerOptions(PingsSchema(), CompactedBatch), pings)
	}
	return writeRows(w, append(writerOptions(MetricsSchema(), CompactedBatch), parquet.MaxRowsPerRowGroup(metricsRowGroup)), metrics)
}

func writeRows[T any](w io.Writer, opts []parquet.WriterOption, rs []T) error {
	pw := parquet.NewGenericWriter[T](w, opts...)
	if _, err := pw.Write(rs); err != nil {
		return fmt.Errorf("encode compacted rows: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("close compacted parquet: %w", err)
	}
	return nil
}

// compactTables are the tables in the order a day is switched: metric rows
// first, so that a ping row always has its metric rows (as Write keeps it).
var compactTables = []string{tables.Metrics, tables.Pings}

// dayInputs are what compacting a day starts from on either backend.
type dayInputs struct {
	// files are each table's files of the day (directory entries, S3
	// keys).
	files map[string][]string
	// compacted: files are the day's compacted files alone, nothing to
	// do (nothing was read).
	compacted bool
	// pings and metrics are the rows Dedupe keeps of them.
	pings   []rows.Ping
	metrics []rows.Metric
}

// gatherDay checks day, lists each table's files of it with list and,
// unless they are its compacted files alone, reads them all (read hands
// decode the content of one) and deduplicates their rows. The result
// counts the files and rows.
func gatherDay(day string, list func(table string) ([]string, error),
	read func(table, file string, decode func(io.ReaderAt, int64) error) error,
) (CompactResult, dayInputs, error) {
	res := CompactResult{Day: day}
	in := dayInputs{files: map[string][]string{}}
	if err := ValidDay(day); err != nil {
		return res, in, err
	}
	for _, table := range compactTables {
		files, err := list(table)
		if err != nil {
			return res, in, err
		}
		in.files[table] = files
		res.Files += len(files)
	}
	if in.compacted = compacted(in.files); in.compacted {
		return res, in, nil
	}
	var pings []rows.Ping
	var metrics []rows.Metric
	for _, table := range compactTables {
		for _, f := range in.files[table] {
			err := read(table, f, func(r io.ReaderAt, size int64) error {
				if table == tables.Pings {
					return decodeRows(r, size, &pings)
				}
				return decodeRows(r, size, &metrics)
			})
			if err != nil {
				return res, in, err
			}
		}
	}
	res.PingRows, res.MetricRows = len(pings), len(metrics)
	in.pings, in.metrics = Dedupe(pings, metrics)
	res.Pings, res.Metrics = len(in.pings), len(in.metrics)
	return res, in, nil
}

// Compact compacts day in the directory lake. Each table's day switches
// atomically: the compacted file is written in a hidden staging directory
// beside the partition, which is then exchanged with the partition in one
// rename (renameat2 RENAME_EXCHANGE), so a reader lists either the old files
// or the compacted one. Files the loader adds meanwhile are kept. A staging
// directory left by a crash is folded back first.
func (d *Dir) Compact(ctx context.Context, day string) (CompactResult, error) {
	return d.compact(ctx, day, nil)
}

// compact is Compact with a hook called before each step (tests crash it).
func (d *Dir) compact(ctx context.Context, day string, hook func(step string) error) (CompactResult, error) {
	res, in, err := gatherDay(day, func(table string) ([]string, error) {
		live, staging := d.partition(table, day)
		if err := recoverStaging(live, staging); err != nil {
			return nil, err
		}
		return parquetFiles(live)
	}, func(table, f string, decode func(io.ReaderAt, int64) error) error {
		live, _ := d.partition(table, day)
		return readFile(filepath.Join(live, f), decode)
	})
	if err != nil || in.compacted {
		return res, err
	}
	step := func(name string) error {
		if hook == nil {
			return nil
		}
		return hook(name)
	}
	for _, table := range compactTables {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		live, staging := d.partition(table, day)
		if len(in.files[table]) == 0 {
			continue
		}
		d.forget(staging) // a directory of an earlier run may have been removed
		if err := d.ensureDir(staging); err != nil {
			return res, err
		}
		name := filepath.Join(staging, CompactedBatch+".parquet")
		if err := d.writeFile(name, func(w io.Writer) error { return encodeCompacted(w, table, in.pings, in.metrics) }); err != nil {
			return res, fmt.Errorf("write %s: %w", name, err)
		}
		if err := step("staged " + table); err != nil {
			return res, err
		}
		if err := unix.Renameat2(unix.AT_FDCWD, staging, unix.AT_FDCWD, live, unix.RENAME_EXCHANGE); err != nil {
			return res, fmt.Errorf("switch %s to its compacted file: %w", live, err)
		}
		if err := syncDir(filepath.Dir(live)); err != nil {
			return res, err
		}
		if err := step("switched " + table); err != nil {
			return res, err
		}
		// staging now holds the old files: keep those that were not read.
		if err := keepNewcomers(staging, live, in.files[table]); err != nil {
			return res, err
		}
		if err := os.RemoveAll(staging); err != nil {
			return res, fmt.Errorf("remove the replaced files of %s: %w", live, err)
		}
		d.forget(staging)
	}
	return res, nil
}

// forget drops dir from the directories known to exist.
func (d *Dir) forget(dir string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.known, dir)
}

// compacted reports whether a day's files are its compacted files alone:
// nothing to do.
func compacted(inputs map[string][]string) bool {
	for _, files := range inputs {
		for _, f := range files {
			if path.Base(f) != CompactedBatch+".parquet" {
				return false
			}
		}
	}
	return true
}

// partition is a table's directory of day and its staging directory.
func (d *Dir) partition(table, day string) (live, staging string) {
	parent := filepath.Join(d.root, table)
	return filepath.Join(parent, "dt="+day), filepath.Join(parent, ".dt="+day+".compacting")
}

// recoverStaging folds a staging directory left by a crash into the live
// partition. Before the switch it holds only the compacted file (derived,
// dropped); after it, the replaced files, of which the compacted file of a
// previous run is already in the live one and the rest — inputs, which the
// coming compaction deduplicates, and files added during the crashed run —
// go back.
func recoverStaging(live, staging string) error {
	if _, err := os.Stat(staging); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var kept []string
	if _, err := os.Stat(live); err == nil {
		kept = []string{CompactedBatch + ".parquet"}
	}
	if err := keepNewcomers(staging, live, kept); err != nil {
		return err
	}
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("remove %s: %w", staging, err)
	}
	return nil
}

// keepNewcomers moves the Parquet files of from that are not in known into
// to (creating it).
func keepNewcomers(from, to string, known []string) error {
	files, err := parquetFiles(from)
	if err != nil {
		return err
	}
	moved := false
	for _, f := range files {
		if slices.Contains(known, f) {
			continue
		}
		if !moved {
			if err := os.MkdirAll(to, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", to, err)
			}
		}
		if err := os.Rename(filepath.Join(from, f), filepath.Join(to, f)); err != nil {
			return fmt.Errorf("keep %s: %w", f, err)
		}
		moved = true
	}
	if moved {
		return syncDir(to)
	}
	return nil
}

// parquetFiles lists the complete Parquet files of dir (none when it does
// not exist), sorted.
func parquetFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && !strings.HasPrefix(n, ".") && strings.HasSuffix(n, ".parquet") {
			out = append(out, n)
		}
	}
	return out, nil
}

// Days lists the days (dt partitions) of the lake's pings and ping_metrics
// tables, sorted.
func (d *Dir) Days(context.Context) ([]string, error) {
	set := map[string]bool{}
	for _, table := range compactTables {
		entries, err := os.ReadDir(filepath.Join(d.root, table))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("list %s partitions: %w", table, err)
		}
		for _, e := range entries {
			if day, ok := strings.CutPrefix(e.Name(), "dt="); ok && e.IsDir() {
				set[day] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// Days lists the days (dt partitions) of the S3 lake's pings and
// ping_metrics tables, sorted.
func (s *S3) Days(ctx context.Context) ([]string, error) {
	set := map[string]bool{}
	for _, table := range compactTables {
		keys, err := s.keysUnder(ctx, table+"/")
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if part, _, ok := strings.Cut(strings.TrimPrefix(k, table+"/"), "/"); ok {
				if day, ok := strings.CutPrefix(part, "dt="); ok {
					set[day] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// Compact compacts day in the S3 lake. S3 has no rename: the compacted
// object is put first (an overwrite of the same key is atomic), then the
// objects it replaces are deleted, so a reader never misses a row; one
// listing the day between the put and the last delete sees rows twice —
// the duplicates compaction removes, which readers that need exactness
// collapse by ping_id and _version as the warehouse does. Objects added
// meanwhile are not deleted. A crash leaves the compacted object and some
// inputs; the next run merges them to the same object.
func (s *S3) Compact(ctx context.Context, day string) (CompactResult, error) {
	return s.compact(ctx, day, nil)
}

func (s *S3) compact(ctx context.Context, day string, hook func(step string) error) (CompactResult, error) {
	res, in, err := gatherDay(day, func(table string) ([]string, error) {
		return s.keysUnder(ctx, table+"/dt="+day+"/")
	}, func(_, k string, decode func(io.ReaderAt, int64) error) error {
		data, err := s.get(ctx, k)
		if err != nil {
			return err
		}
		if err := decode(bytes.NewReader(data), int64(len(data))); err != nil {
			return fmt.Errorf("decode %s: %w", k, err)
		}
		return nil
	})
	if err != nil || in.compacted {
		return res, err
	}
	for _, table := range compactTables {
		if len(in.files[table]) == 0 {
			continue
		}
		var buf bytes.Buffer
		if err := encodeCompacted(&buf, table, in.pings, in.metrics); err != nil {
			return res, err
		}
		key := Key(table, day, CompactedBatch)
		if err := s.put(ctx, key, buf.Bytes()); err != nil {
			return res, err
		}
		if hook != nil {
			if err := hook("put " + table); err != nil {
				return res, err
			}
		}
		for _, k := range in.files[table] {
			if k == key {
				continue
			}
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.ObjectKey(k))}); err != nil {
				return res, fmt.Errorf("delete replaced lake object %s: %w", k, err)
			}
		}
	}
	return res, nil
}
