package lake

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/serviceping/serviceping/pkg/tables"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// ReadDir reads every Parquet file of the lake in the directory root back
// into rows, files in lexical key order (table, dt, batch) and rows in
// file order. Temporary files of interrupted writes are ignored. Rows are
// not de-duplicated: a ping written by two different batches (possible
// only after a crash between write and ack) appears twice. A missing
// table directory reads as empty.
func ReadDir(root string) (pings []rows.Ping, metrics []rows.Metric, err error) {
	if _, err := os.Stat(root); err != nil {
		return nil, nil, fmt.Errorf("read lake %s: %w", root, err)
	}
	if err := readTable(filepath.Join(root, tables.Pings), &pings); err != nil {
		return nil, nil, err
	}
	if err := readTable(filepath.Join(root, tables.Metrics), &metrics); err != nil {
		return nil, nil, err
	}
	return pings, metrics, nil
}

// Files lists the lake's Parquet files as keys relative to root, in
// lexical order.
func Files(root string) ([]string, error) {
	var keys []string
	for _, table := range []string{tables.Metrics, tables.Pings} {
		err := walkParquet(filepath.Join(root, table), func(path string) error {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			keys = append(keys, filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func readTable[T any](dir string, out *[]T) error {
	return walkParquet(dir, func(path string) error {
		return readFile(path, func(r io.ReaderAt, size int64) error { return decodeRows(r, size, out) })
	})
}

// readFile hands decode the Parquet file at path.
func readFile(path string, decode func(io.ReaderAt, int64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read parquet file %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err == nil {
		err = decode(f, info.Size())
	}
	if err != nil {
		return fmt.Errorf("read parquet file %s: %w", path, err)
	}
	return nil
}

// decodeRows appends the rows of the Parquet file of size bytes in r to
// out.
func decodeRows[T any](r io.ReaderAt, size int64, out *[]T) error {
	rs, err := parquet.Read[T](r, size)
	if err != nil {
		return err
	}
	*out = append(*out, rs...)
	return nil
}

func walkParquet(dir string, fn func(path string) error) error {
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := de.Name()
		if de.IsDir() && path != dir && strings.HasPrefix(name, ".") {
			return filepath.SkipDir // a compaction's staging directory
		}
		if de.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".parquet") {
			return nil
		}
		return fn(path)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("walk lake table %s: %w", dir, err)
	}
	return nil
}
