package chdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"
	"unsafe"
)

// ErrClosed is returned by calls on a closed Engine or Conn.
var ErrClosed = errors.New("chdb: engine closed")

// Engine is the embedded engine on a persistent data path.
type Engine struct {
	api  *api
	path string
	args []string          // chdb_connect arguments of every connection
	base map[string]string // WithSettings, as SQL literals

	mu      sync.Mutex
	closed  bool
	conns   map[*Conn]struct{} // open connections made by Connect
	primary *Conn              // Exec, Insert, Query of the Engine itself
	ctl     *Conn              // KILL QUERY for cancelled streams
}

type config struct {
	args     []string
	settings map[string]string
}

// Option configures Open.
type Option func(*config)

// WithSettings applies ClickHouse query-level settings to every connection,
// as if SET were run once when it opens (e.g. max_threads=2).
func WithSettings(settings map[string]string) Option {
	return func(c *config) {
		if c.settings == nil {
			c.settings = map[string]string{}
		}
		maps.Copy(c.settings, settings)
	}
}

// WithArgs passes raw command-line arguments to chdb_connect (server-level
// options such as --log-level=...).
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Open loads libPath (once per process) and opens the engine on dataPath
// (created when missing). chDB supports one data path per process: close the
// previous Engine before opening another path.
func Open(libPath, dataPath string, opts ...Option) (*Engine, error) {
	if dataPath == "" {
		return nil, errors.New("open chdb: empty data path")
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	a, err := load(libPath)
	if err != nil {
		return nil, fmt.Errorf("open chdb: %w", err)
	}
	e := &Engine{api: a, path: dataPath, conns: map[*Conn]struct{}{}, base: map[string]string{}}
	e.args = append([]string{"clickhouse", "--path=" + dataPath}, cfg.args...)
	for _, k := range slices.Sorted(maps.Keys(cfg.settings)) {
		e.args = append(e.args, "--"+k+"="+cfg.settings[k])
		e.base[k] = quoteString(cfg.settings[k])
	}
	if e.primary, err = e.connect(); err != nil {
		return nil, fmt.Errorf("open chdb at %s: %w", dataPath, err)
	}
	if e.ctl, err = e.connect(); err != nil {
		_ = e.primary.close()
		return nil, fmt.Errorf("open chdb at %s: control connection: %w", dataPath, err)
	}
	return e, nil
}

// connect opens one more connection to the engine's data path.
func (e *Engine) connect() (*Conn, error) {
	var pin runtime.Pinner
	defer pin.Unpin()
	argv := make([]unsafe.Pointer, len(e.args)+1)
	for i, s := range e.args {
		b := append([]byte(s), 0)
		pin.Pin(&b[0])
		argv[i] = unsafe.Pointer(&b[0])
	}
	pin.Pin(&argv[0])
	h := e.api.connect(int32(len(e.args)), unsafe.Pointer(&argv[0]))
	runtime.KeepAlive(argv)
	if h == nil || *(*unsafe.Pointer)(h) == nil {
		return nil, errors.New("chdb_connect failed (is another data path open in this process?)")
	}
	return &Conn{e: e, sem: make(chan struct{}, 1), h: h, home: "default", base: maps.Clone(e.base)}, nil
}

// Connect opens a new connection: a session of its own on the engine,
// running statements concurrently with every other connection. Close it when
// done.
func (e *Engine) Connect() (*Conn, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	c, err := e.connect()
	if err != nil {
		return nil, fmt.Errorf("connect to chdb at %s: %w", e.path, err)
	}
	c.owned = true
	e.conns[c] = struct{}{}
	return c, nil
}

// Version returns the chDB library version, e.g. "26.7.0".
func (e *Engine) Version() string { return cString(e.api.version()) }

// Path returns the data path the engine was opened on.
func (e *Engine) Path() string { return e.path }

// Close closes every connection, waiting for the statements they run, and
// shuts the engine down. It is safe to call more than once. The library stays
// loaded; another Engine may be opened afterwards (on any path).
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	conns := slices.Collect(maps.Keys(e.conns))
	e.mu.Unlock()
	for _, c := range conns {
		_ = c.close()
	}
	_ = e.ctl.close()
	// The last connection shuts the embedded server down.
	return e.primary.close()
}

// Exec runs one statement on the engine's own connection; see Conn.Exec.
func (e *Engine) Exec(ctx context.Context, req Request) (*Result, error) {
	return e.primary.Exec(ctx, req)
}

// Insert streams data into an INSERT on the engine's own connection; see
// Conn.Insert.
func (e *Engine) Insert(ctx context.Context, req Request, data io.Reader) (*Result, error) {
	return e.primary.Insert(ctx, req, data)
}

// Query runs one statement and returns its output in format.
func (e *Engine) Query(ctx context.Context, sql, format string) ([]byte, error) {
	res, err := e.Exec(ctx, Request{SQL: sql, Format: format})
	if err != nil {
		return nil, err
	}
	return res.Data, nil
}

// killTimeout bounds the KILL QUERY of a cancelled stream.
const killTimeout = 5 * time.Second

// kill asks the engine to cancel the statement tagged with marker (see
// Conn.Query). The KILL statement builds the marker with concat so that its
// own text does not match.
func (e *Engine) kill(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	sql := "KILL QUERY WHERE position(query, concat('" + markerPrefix + "', '" + id + "', '" + markerSuffix + "')) > 0 ASYNC"
	_, _ = e.ctl.Exec(ctx, Request{SQL: sql})
}

// Request is one statement with its execution context.
type Request struct {
	// SQL is one statement. For Insert it has no FORMAT clause nor data.
	SQL string
	// Format is the output format of a query (e.g. "Native", "JSON") or the
	// input format of Insert data. Empty means TabSeparated.
	Format string
	// Database, when set, is the current database for the statement;
	// otherwise the statement runs in the connection's current database
	// ("default" unless a USE statement changed it).
	Database string
	// Params bind {name:Type} placeholders server-side.
	Params map[string]string
	// Settings are ClickHouse settings for this statement only.
	Settings map[string]string
	// Defaults are settings for this statement unless Settings or the
	// connection's session (Conn.Set, WithSettings) name them: the
	// endpoint's limits, say.
	Defaults map[string]string
	// Overrides are settings the caller itself imposes on the statement,
	// over Settings and the session's; under ReadOnly they are applied
	// with Defaults, before readonly.
	Overrides map[string]string
	// ReadOnly, when 1 or 2, runs the statement under ClickHouse's readonly
	// setting of that value, applied with Defaults before Settings: the
	// engine refuses writes and DDL (code 164 READONLY), and with 1 also
	// table functions and any setting that Settings, a SET or a SETTINGS
	// clause would change. The engine lets "= DEFAULT" reset readonly
	// itself, so a caller handing it untrusted text must refuse that.
	ReadOnly int
}

// Result is a statement's output and its statistics.
type Result struct {
	Data         []byte
	RowsRead     uint64
	BytesRead    uint64
	RowsWritten  uint64
	BytesWritten uint64
	Elapsed      time.Duration
}

func (r *Result) add(o *Result) {
	r.RowsRead += o.RowsRead
	r.BytesRead += o.BytesRead
	r.RowsWritten += o.RowsWritten
	r.BytesWritten += o.BytesWritten
	r.Elapsed += o.Elapsed
}

// Markers tag streamed statements so that a cancelled one can be found in
// system.processes and killed: "\n/* chdb:<id> */" is appended to the
// statement (after a newline, so that a trailing -- comment cannot swallow
// it) and removed again from the error messages that quote the statement.
const (
	markerPrefix = "/* chdb:"
	markerSuffix = " */"
)

func newMarkerID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
