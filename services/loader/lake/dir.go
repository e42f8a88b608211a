package lake

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/serviceping/serviceping/pkg/tables"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// Dir is a lake in a local directory. Write is durable when it returns:
// each file is written to a temporary name in its partition directory,
// fsynced, renamed over its final name and the directory fsynced; new
// directories are fsynced into their parents. Dir is safe for concurrent
// use.
type Dir struct {
	root string

	mu    sync.Mutex
	known map[string]bool // directories known to exist durably
}

// NewDir opens (creating it if needed) the lake rooted at the directory root.
func NewDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("lake directory is empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolve lake directory %s: %w", root, err)
	}
	d := &Dir{root: abs, known: map[string]bool{}}
	if err := d.ensureDir(abs); err != nil {
		return nil, fmt.Errorf("create lake directory %s: %w", abs, err)
	}
	return d, nil
}

// Check reports whether the lake directory exists and can be written.
func (d *Dir) Check(context.Context) error {
	if err := unix.Access(d.root, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("lake directory %s: %w", d.root, err)
	}
	return nil
}

// Root is the absolute lake directory.
func (d *Dir) Root() string { return d.root }

// Write writes the batch's files, one per table per dt partition. The
// ping_metrics files are made durable before the pings files, so a ping
// row in the lake implies its metric rows are there. Rewriting a batch
// with the same ID replaces its files.
func (d *Dir) Write(ctx context.Context, b rows.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	parts := b.Partitions()
	for _, table := range []string{tables.Metrics, tables.Pings} {
		for _, p := range parts {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("write batch %s: %w", b.ID, err)
			}
			key := Key(table, p.DT, b.ID)
			err := d.writeFile(filepath.Join(d.root, filepath.FromSlash(key)), func(w io.Writer) error {
				if table == tables.Pings {
					return EncodePings(w, b.ID, p.Records)
				}
				return EncodeMetrics(w, b.ID, p.Records)
			})
			if err != nil {
				return fmt.Errorf("write lake file %s: %w", key, err)
			}
		}
	}
	return nil
}

func (d *Dir) writeFile(name string, encode func(io.Writer) error) (err error) {
	dir := filepath.Dir(name)
	if err := d.ensureDir(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := encode(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	return syncDir(dir)
}

// ensureDir creates dir and any missing parents, fsyncing each new entry
// into its parent.
func (d *Dir) ensureDir(dir string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ensureDirLocked(dir)
}

func (d *Dir) ensureDirLocked(dir string) error {
	if d.known[dir] {
		return nil
	}
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case err == nil:
	case errors.Is(err, os.ErrNotExist):
		parent := filepath.Dir(dir)
		if parent != dir {
			if err := d.ensureDirLocked(parent); err != nil {
				return err
			}
		}
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create directory: %w", err)
		}
		if err := syncDir(parent); err != nil {
			return err
		}
	default:
		return fmt.Errorf("stat directory: %w", err)
	}
	d.known[dir] = true
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s for fsync: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
