// Package chdb embeds the ClickHouse engine of chDB (libchdb.so) in a Go
// process without cgo: the library is loaded with purego and driven through
// its C API. One persistent connection per process runs one statement at a
// time; Engine serializes callers.
package chdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// ErrClosed is returned by calls on a closed Engine.
var ErrClosed = errors.New("chdb: engine closed")

// Engine is an open chDB connection on a persistent data path.
type Engine struct {
	api  *api
	path string

	// sem serializes access to conn: one statement at a time, and callers
	// waiting for it honour their context.
	sem  chan struct{}
	conn unsafe.Pointer // chdb_connection* (pointer to the handle)
	db   string         // current database of the session
}

type config struct {
	args []string
}

// Option configures Open.
type Option func(*config)

// WithSettings applies ClickHouse query-level settings to the connection, as
// if SET were run once at open (e.g. max_threads=2).
func WithSettings(settings map[string]string) Option {
	return func(c *config) {
		for _, k := range slices.Sorted(maps.Keys(settings)) {
			c.args = append(c.args, "--"+k+"="+settings[k])
		}
	}
}

// WithArgs passes raw command-line arguments to chdb_connect (server-level
// options such as --log-level=...).
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Open loads libPath (once per process) and opens a connection whose data
// lives under dataPath (created when missing). chDB supports one data path
// per process: close the previous Engine before opening another path.
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
	args := append([]string{"clickhouse", "--path=" + dataPath}, cfg.args...)
	var pin runtime.Pinner
	defer pin.Unpin()
	argv := make([]unsafe.Pointer, len(args)+1)
	for i, s := range args {
		b := append([]byte(s), 0)
		pin.Pin(&b[0])
		argv[i] = unsafe.Pointer(&b[0])
	}
	pin.Pin(&argv[0])
	conn := a.connect(int32(len(args)), unsafe.Pointer(&argv[0]))
	runtime.KeepAlive(argv)
	if conn == nil || *(*unsafe.Pointer)(conn) == nil {
		return nil, fmt.Errorf("open chdb at %s: chdb_connect failed (is another data path open in this process?)", dataPath)
	}
	e := &Engine{api: a, path: dataPath, sem: make(chan struct{}, 1), conn: conn, db: "default"}
	return e, nil
}

// Version returns the chDB library version, e.g. "26.7.0".
func (e *Engine) Version() string { return cString(e.api.version()) }

// Path returns the data path the engine was opened on.
func (e *Engine) Path() string { return e.path }

// Close closes the connection. It waits for a running statement to finish.
// It is safe to call more than once. The library stays loaded; another
// Engine may be opened afterwards (on any path).
func (e *Engine) Close() error {
	e.sem <- struct{}{}
	defer func() { <-e.sem }()
	if e.conn == nil {
		return nil
	}
	e.api.closeConn(e.conn)
	e.conn = nil
	return nil
}

func (e *Engine) acquire(ctx context.Context) error {
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait for chdb connection: %w", context.Cause(ctx))
	}
	if e.conn == nil {
		<-e.sem
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		<-e.sem
		return context.Cause(ctx)
	}
	return nil
}

func (e *Engine) release() { <-e.sem }

// Request is one statement with its execution context.
type Request struct {
	// SQL is one statement. For Insert it has no FORMAT clause nor data.
	SQL string
	// Format is the output format of a query (e.g. "Native", "JSON") or the
	// input format of Insert data. Empty means TabSeparated.
	Format string
	// Database, when set, is the current database for the statement.
	Database string
	// Params bind {name:Type} placeholders server-side.
	Params map[string]string
	// Settings are ClickHouse settings for this statement only.
	Settings map[string]string
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

// Query runs one statement and returns its output in format.
func (e *Engine) Query(ctx context.Context, sql, format string) ([]byte, error) {
	res, err := e.Exec(ctx, Request{SQL: sql, Format: format})
	if err != nil {
		return nil, err
	}
	return res.Data, nil
}

// Exec runs one statement with parameters, settings and a current database.
// When ctx has a deadline and no max_execution_time setting is given, the
// remaining time becomes the statement's max_execution_time, so the engine
// stops a runaway statement on its own.
func (e *Engine) Exec(ctx context.Context, req Request) (*Result, error) {
	if err := e.acquire(ctx); err != nil {
		return nil, err
	}
	defer e.release()
	restore, err := e.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	defer restore()
	return e.run(req.SQL, formatOr(req.Format), req.Params)
}

// Insert runs an INSERT statement (req.SQL without FORMAT clause or data)
// and streams data, encoded in req.Format, into it in chunks. Nothing is
// held in memory beyond one chunk. A failed read or a cancelled ctx aborts
// the insert (rows of blocks already written stay, as in ClickHouse).
// The connection is held while data is read: a slow producer delays every
// other caller, so bound data reads (e.g. with a read deadline).
func (e *Engine) Insert(ctx context.Context, req Request, data io.Reader) (*Result, error) {
	if req.Format == "" {
		return nil, errors.New("chdb insert: no input format")
	}
	if err := e.acquire(ctx); err != nil {
		return nil, err
	}
	defer e.release()
	restore, err := e.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	defer restore()
	return e.streamInsert(ctx, req, data)
}

// prepare applies the request's database and settings to the session and
// returns the function that undoes the settings. Called with the connection
// held.
func (e *Engine) prepare(ctx context.Context, req Request) (func(), error) {
	db := req.Database
	if db == "" {
		db = "default"
	}
	if db != e.db {
		e.db = ""
		if _, err := e.run("USE "+quoteIdent(db), "TabSeparated", nil); err != nil {
			return nil, err
		}
		e.db = db
	}
	if isUse(req.SQL) {
		// The statement switches the session's database itself.
		e.db = ""
	}
	settings := req.Settings
	if dl, ok := ctx.Deadline(); ok {
		if _, set := settings["max_execution_time"]; !set {
			settings = maps.Clone(settings)
			if settings == nil {
				settings = map[string]string{}
			}
			settings["max_execution_time"] = strconv.Itoa(max(1, int(math.Ceil(time.Until(dl).Seconds()))))
		}
	}
	if len(settings) == 0 {
		return func() {}, nil
	}
	keys := slices.Sorted(maps.Keys(settings))
	var set, reset strings.Builder
	for i, k := range keys {
		if !validSettingName(k) {
			return nil, &Error{Code: 115, Message: fmt.Sprintf("DB::Exception: Unknown setting '%s'. (UNKNOWN_SETTING)", k)}
		}
		sep := ", "
		if i == 0 {
			sep = "SET "
		}
		set.WriteString(sep + k + " = " + quoteString(settings[k]))
		reset.WriteString(sep + k + " = DEFAULT")
	}
	undo := func() { _, _ = e.run(reset.String(), "TabSeparated", nil) }
	if _, err := e.run(set.String(), "TabSeparated", nil); err != nil {
		undo()
		return nil, err
	}
	return undo, nil
}

func formatOr(f string) string {
	if f == "" {
		return "TabSeparated"
	}
	return f
}

func isUse(sql string) bool {
	s := strings.TrimSpace(sql)
	return len(s) >= 4 && strings.EqualFold(s[:3], "use") && (s[3] == ' ' || s[3] == '\t' || s[3] == '\n' || s[3] == '\r')
}

func validSettingName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func quoteIdent(s string) string {
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(s) + "`"
}

func quoteString(s string) string {
	return "'" + strings.NewReplacer("\\", "\\\\", "'", "\\'").Replace(s) + "'"
}

// cArgs holds pinned Go memory handed to the C side for one call.
type cArgs struct {
	pin                             runtime.Pinner
	names, values                   []unsafe.Pointer
	nameLens, valueLens             []uintptr
	namesP, valuesP, nLensP, vLensP unsafe.Pointer
	count                           uintptr
}

func newCArgs(params map[string]string) *cArgs {
	c := &cArgs{}
	if len(params) == 0 {
		return c
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		nb, vb := []byte(k), []byte(params[k])
		np, vp := bytePtr(nb), bytePtr(vb)
		if len(nb) > 0 {
			c.pin.Pin(np)
		}
		if len(vb) > 0 {
			c.pin.Pin(vp)
		}
		c.names = append(c.names, np)
		c.values = append(c.values, vp)
		c.nameLens = append(c.nameLens, uintptr(len(nb)))
		c.valueLens = append(c.valueLens, uintptr(len(vb)))
	}
	c.pin.Pin(&c.names[0])
	c.pin.Pin(&c.values[0])
	c.pin.Pin(&c.nameLens[0])
	c.pin.Pin(&c.valueLens[0])
	c.namesP, c.valuesP = unsafe.Pointer(&c.names[0]), unsafe.Pointer(&c.values[0])
	c.nLensP, c.vLensP = unsafe.Pointer(&c.nameLens[0]), unsafe.Pointer(&c.valueLens[0])
	c.count = uintptr(len(c.names))
	return c
}

// run executes one statement on the held connection.
func (e *Engine) run(sql, format string, params map[string]string) (*Result, error) {
	h := *(*unsafe.Pointer)(e.conn)
	q, f := []byte(sql), []byte(format)
	args := newCArgs(params)
	defer args.pin.Unpin()
	var res unsafe.Pointer
	if args.count == 0 {
		res = e.api.queryN(h, bytePtr(q), uintptr(len(q)), bytePtr(f), uintptr(len(f)))
	} else {
		res = e.api.queryWithParamsN(h, bytePtr(q), uintptr(len(q)), bytePtr(f), uintptr(len(f)),
			args.namesP, args.nLensP, args.valuesP, args.vLensP, args.count)
	}
	runtime.KeepAlive(q)
	runtime.KeepAlive(f)
	return e.collect(res)
}

// collect copies a chdb_result into Go memory and destroys it.
func (e *Engine) collect(res unsafe.Pointer) (*Result, error) {
	if res == nil {
		return nil, &Error{Message: "chdb returned no result"}
	}
	defer e.api.destroyResult(res)
	if msg := cString(e.api.resultError(res)); msg != "" {
		return nil, parseError(msg)
	}
	out := &Result{
		RowsRead:     e.api.resultRowsRead(res),
		BytesRead:    e.api.resultBytesRead(res),
		RowsWritten:  e.api.resultRowsWritten(res),
		BytesWritten: e.api.resultBytesWritten(res),
		Elapsed:      time.Duration(e.api.resultElapsed(res) * float64(time.Second)),
	}
	if n := e.api.resultLength(res); n > 0 {
		if buf := e.api.resultBuffer(res); buf != nil {
			out.Data = make([]byte, n)
			copy(out.Data, unsafe.Slice((*byte)(buf), n))
		}
	}
	return out, nil
}

// insertChunk is the size of the pieces Insert hands to the engine.
const insertChunk = 1 << 20

func (e *Engine) streamInsert(ctx context.Context, req Request, data io.Reader) (*Result, error) {
	h := *(*unsafe.Pointer)(e.conn)
	q, f := []byte(req.SQL), []byte(req.Format)
	args := newCArgs(req.Params)
	defer args.pin.Unpin()
	st := e.api.streamInsertWithParams(h, bytePtr(q), uintptr(len(q)), bytePtr(f), uintptr(len(f)),
		args.namesP, args.nLensP, args.valuesP, args.vLensP, args.count)
	runtime.KeepAlive(q)
	runtime.KeepAlive(f)
	if st == nil {
		return nil, &Error{Message: "chdb_stream_insert returned no stream"}
	}
	defer e.api.destroyInsertStream(st)
	if msg := cString(e.api.streamInsertError(st)); msg != "" {
		return nil, parseError(msg)
	}
	buf := make([]byte, insertChunk)
	for {
		if err := ctx.Err(); err != nil {
			e.api.streamCancelInsert(st)
			return nil, fmt.Errorf("insert cancelled: %w", context.Cause(ctx))
		}
		n, rerr := io.ReadFull(data, buf)
		if n > 0 {
			if e.api.streamAppend(st, unsafe.Pointer(&buf[0]), uintptr(n)) != 0 {
				msg := cString(e.api.streamInsertError(st))
				e.api.streamCancelInsert(st)
				if msg == "" {
					msg = "chdb_stream_append failed"
				}
				return nil, parseError(msg)
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			e.api.streamCancelInsert(st)
			return nil, fmt.Errorf("read insert data: %w", rerr)
		}
	}
	runtime.KeepAlive(buf)
	return e.collect(e.api.streamDone(st))
}
