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

// Conn is one connection to the engine: a ClickHouse session with its own
// settings, current database and temporary tables. It runs one statement at
// a time; callers wait for it in turn, honouring their context.
type Conn struct {
	e     *Engine
	owned bool // made by Engine.Connect, closed by Engine.Close

	// sem serializes statements: held from the start of a statement to its
	// end (for a streamed query, until Rows.Close).
	sem  chan struct{}
	h    unsafe.Pointer    // chdb_connection* (pointer to the handle); nil once closed
	db   string            // current database on the connection, "" when unknown
	home string            // database a statement without Request.Database runs in
	base map[string]string // session settings: name → SQL literal
}

func (c *Conn) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait for chdb connection: %w", context.Cause(ctx))
	}
	if c.h == nil {
		<-c.sem
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		<-c.sem
		return context.Cause(ctx)
	}
	return nil
}

func (c *Conn) release() { <-c.sem }

// handle is the chdb_connection the C API takes.
func (c *Conn) handle() unsafe.Pointer { return *(*unsafe.Pointer)(c.h) }

// Close closes the connection, waiting for its running statement. It is safe
// to call more than once.
func (c *Conn) Close() error {
	if c == c.e.primary || c == c.e.ctl {
		return errors.New("chdb: the engine's own connection closes with the engine")
	}
	c.e.mu.Lock()
	delete(c.e.conns, c)
	c.e.mu.Unlock()
	return c.close()
}

func (c *Conn) close() error {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	if c.h == nil {
		return nil
	}
	c.e.api.closeConn(c.h)
	c.h = nil
	return nil
}

// Exec runs one statement with parameters, settings and a current database,
// and returns its whole output. When ctx has a deadline and no
// max_execution_time is set for the statement or the session, the remaining
// time becomes the statement's max_execution_time, so the engine stops a
// runaway statement on its own.
func (c *Conn) Exec(ctx context.Context, req Request) (*Result, error) {
	end, err := c.begin(ctx, req)
	if err != nil {
		return nil, err
	}
	defer end()
	res, err := c.run(req.SQL, formatOr(req.Format), req.Params)
	c.afterUse(req.SQL, err)
	return res, err
}

// Insert runs an INSERT statement (req.SQL without FORMAT clause or data)
// and streams data, encoded in req.Format, into it in chunks. Nothing is
// held in memory beyond one chunk. A failed read or a cancelled ctx aborts
// the insert (rows of blocks already written stay, as in ClickHouse).
// The connection is held while data is read: a slow producer delays every
// other caller of this connection, so bound data reads (e.g. with a read
// deadline).
func (c *Conn) Insert(ctx context.Context, req Request, data io.Reader) (*Result, error) {
	if req.Format == "" {
		return nil, errors.New("chdb insert: no input format")
	}
	end, err := c.begin(ctx, req)
	if err != nil {
		return nil, err
	}
	defer end()
	return c.streamInsert(ctx, req, data)
}

// begin takes the connection for a statement and applies its database and
// settings; end puts the session's settings back and releases it.
func (c *Conn) begin(ctx context.Context, req Request) (end func(), err error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	restore, err := c.prepare(ctx, req)
	if err != nil {
		c.release()
		return nil, err
	}
	return func() {
		restore()
		c.release()
	}, nil
}

// Set runs SET for settings given as SQL literals ('text', 42, 1.5, [1, 2],
// DEFAULT) and keeps them as the session's settings: a later statement that
// overrides one for itself gets the session's value back afterwards.
func (c *Conn) Set(ctx context.Context, literals map[string]string) error {
	if len(literals) == 0 {
		return nil
	}
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer c.release()
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(literals)) {
		if !validSettingName(k) {
			return unknownSetting(k)
		}
		b.WriteString(cmpSep(i, "SET ", ", ") + k + " = " + literals[k])
	}
	if _, err := c.run(b.String(), "TabSeparated", nil); err != nil {
		return err
	}
	for k, v := range literals {
		if strings.EqualFold(strings.TrimSpace(v), "DEFAULT") {
			delete(c.base, k)
		} else {
			c.base[k] = v
		}
	}
	return nil
}

// Analysis is what the engine's parser says about a text without running it.
type Analysis struct {
	// Statements is the number of executable statements; 0 when the text
	// does not parse.
	Statements int
	// ReadOnly reports a text that changes nothing (SELECT, SHOW, DESCRIBE,
	// EXPLAIN, EXISTS, CHECK).
	ReadOnly bool
}

// Analyze parses sql with the engine's own parser (chdb_classify_query_n);
// nothing runs and the session is untouched.
func (c *Conn) Analyze(ctx context.Context, sql string) (Analysis, error) {
	if err := c.acquire(ctx); err != nil {
		return Analysis{}, err
	}
	defer c.release()
	// chdb_query_analysis_v1: struct_size, statement_count, flags, query_class.
	var out [4]uint32
	out[0] = uint32(unsafe.Sizeof(out))
	q := []byte(sql)
	state := c.e.api.classifyQueryN(c.handle(), bytePtr(q), uintptr(len(q)), nil, 0, unsafe.Pointer(&out[0]))
	runtime.KeepAlive(q)
	if state != 0 {
		return Analysis{}, errors.New("chdb: chdb_classify_query_n failed")
	}
	const classReadOnly = 0
	return Analysis{Statements: int(out[1]), ReadOnly: out[1] > 0 && out[3] == classReadOnly}, nil
}

// prepare applies the request's database and settings to the connection and
// returns the function that puts the session's settings back. Called with
// the connection held.
func (c *Conn) prepare(ctx context.Context, req Request) (func(), error) {
	db := req.Database
	if db == "" {
		db = c.home
	}
	if db != c.db {
		c.db = ""
		if _, err := c.run("USE "+quoteIdent(db), "TabSeparated", nil); err != nil {
			return nil, err
		}
		c.db = db
	}
	// Under ReadOnly the engine checks the request's own settings: they are
	// applied after readonly, in a SET of their own.
	settings, checked := maps.Clone(req.Settings), map[string]string(nil)
	if req.ReadOnly > 0 {
		settings, checked = map[string]string{"readonly": strconv.Itoa(req.ReadOnly)}, maps.Clone(req.Settings)
		for k := range req.Overrides {
			delete(checked, k)
		}
	}
	if settings == nil {
		settings = map[string]string{}
	}
	maps.Copy(settings, req.Overrides)
	for k, v := range req.Defaults {
		_, set := settings[k]
		_, session := c.base[k]
		if !set && !session {
			settings[k] = v
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		_, set := settings["max_execution_time"]
		_, session := c.base["max_execution_time"]
		if !set && !session {
			settings["max_execution_time"] = strconv.Itoa(max(1, int(math.Ceil(time.Until(dl).Seconds()))))
		}
	}
	if len(settings) == 0 && len(checked) == 0 {
		return func() {}, nil
	}
	var reset strings.Builder
	all := maps.Clone(settings)
	maps.Copy(all, checked)
	for i, k := range slices.Sorted(maps.Keys(all)) {
		if !validSettingName(k) {
			return nil, unknownSetting(k)
		}
		if v, ok := c.base[k]; ok {
			reset.WriteString(cmpSep(i, "SET ", ", ") + k + " = " + v)
		} else {
			reset.WriteString(cmpSep(i, "SET ", ", ") + k + " = DEFAULT")
		}
	}
	undo := func() {
		if req.ReadOnly > 0 {
			// Readonly mode lets the engine reset readonly, and no setting
			// that differs from its current value.
			_, _ = c.run("SET readonly = DEFAULT", "TabSeparated", nil)
		}
		if reset.Len() > 0 {
			_, _ = c.run(reset.String(), "TabSeparated", nil)
		}
	}
	for _, m := range []map[string]string{settings, checked} {
		if len(m) == 0 {
			continue
		}
		var set strings.Builder
		for i, k := range slices.Sorted(maps.Keys(m)) {
			if !validSettingName(k) {
				undo()
				return nil, unknownSetting(k)
			}
			set.WriteString(cmpSep(i, "SET ", ", ") + k + " = " + quoteString(m[k]))
		}
		if _, err := c.run(set.String(), "TabSeparated", nil); err != nil {
			undo()
			return nil, err
		}
	}
	return undo, nil
}

// afterUse follows a USE statement: the session's database is now whatever
// the engine says.
func (c *Conn) afterUse(sql string, err error) {
	if !isUse(sql) {
		return
	}
	c.db = ""
	if err != nil {
		return
	}
	res, qerr := c.run("SELECT currentDatabase()", "TabSeparated", nil)
	if qerr == nil {
		c.home = strings.TrimSuffix(string(res.Data), "\n")
		c.db = c.home
	}
}

func cmpSep(i int, first, rest string) string {
	if i == 0 {
		return first
	}
	return rest
}

func unknownSetting(k string) *Error {
	return &Error{Code: 115, Message: fmt.Sprintf("DB::Exception: Unknown setting '%s'. (UNKNOWN_SETTING)", k)}
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
func (c *Conn) run(sql, format string, params map[string]string) (*Result, error) {
	q, f := []byte(sql), []byte(format)
	args := newCArgs(params)
	defer args.pin.Unpin()
	var res unsafe.Pointer
	if args.count == 0 {
		res = c.e.api.queryN(c.handle(), bytePtr(q), uintptr(len(q)), bytePtr(f), uintptr(len(f)))
	} else {
		res = c.e.api.queryWithParamsN(c.handle(), bytePtr(q), uintptr(len(q)), bytePtr(f), uintptr(len(f)),
			args.namesP, args.nLensP, args.valuesP, args.vLensP, args.count)
	}
	runtime.KeepAlive(q)
	runtime.KeepAlive(f)
	return c.collect(res, "")
}

// collect copies a chdb_result into Go memory and destroys it; marker is
// removed from an error message.
func (c *Conn) collect(res unsafe.Pointer, marker string) (*Result, error) {
	if res == nil {
		return nil, &Error{Message: "chdb returned no result"}
	}
	defer c.e.api.destroyResult(res)
	if err := c.resultErr(res, marker); err != nil {
		return nil, err
	}
	out := c.stats(res)
	if n := c.e.api.resultLength(res); n > 0 {
		if buf := c.e.api.resultBuffer(res); buf != nil {
			out.Data = make([]byte, n)
			copy(out.Data, unsafe.Slice((*byte)(buf), n))
		}
	}
	return out, nil
}

func (c *Conn) resultErr(res unsafe.Pointer, marker string) error {
	msg := cString(c.e.api.resultError(res))
	if msg == "" {
		return nil
	}
	if marker != "" {
		msg = strings.ReplaceAll(msg, marker, "")
	}
	return parseError(msg)
}

func (c *Conn) stats(res unsafe.Pointer) *Result {
	a := c.e.api
	return &Result{
		RowsRead:     a.resultRowsRead(res),
		BytesRead:    a.resultBytesRead(res),
		RowsWritten:  a.resultRowsWritten(res),
		BytesWritten: a.resultBytesWritten(res),
		Elapsed:      time.Duration(a.resultElapsed(res) * float64(time.Second)),
	}
}

// insertChunk is the size of the pieces Insert hands to the engine.
const insertChunk = 1 << 20

func (c *Conn) streamInsert(ctx context.Context, req Request, data io.Reader) (*Result, error) {
	a := c.e.api
	q, f := []byte(req.SQL), []byte(req.Format)
	args := newCArgs(req.Params)
	defer args.pin.Unpin()
	st := a.streamInsertWithParams(c.handle(), bytePtr(q), uintptr(len(q)), bytePtr(f), uintptr(len(f)),
		args.namesP, args.nLensP, args.valuesP, args.vLensP, args.count)
	runtime.KeepAlive(q)
	runtime.KeepAlive(f)
	if st == nil {
		return nil, &Error{Message: "chdb_stream_insert returned no stream"}
	}
	defer a.destroyInsertStream(st)
	if msg := cString(a.streamInsertError(st)); msg != "" {
		return nil, parseError(msg)
	}
	buf := make([]byte, insertChunk)
	for {
		if err := ctx.Err(); err != nil {
			a.streamCancelInsert(st)
			return nil, fmt.Errorf("insert cancelled: %w", context.Cause(ctx))
		}
		n, rerr := io.ReadFull(data, buf)
		if n > 0 {
			if a.streamAppend(st, unsafe.Pointer(&buf[0]), uintptr(n)) != 0 {
				msg := cString(a.streamInsertError(st))
				a.streamCancelInsert(st)
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
			a.streamCancelInsert(st)
			return nil, fmt.Errorf("read insert data: %w", rerr)
		}
	}
	runtime.KeepAlive(buf)
	return c.collect(a.streamDone(st), "")
}
