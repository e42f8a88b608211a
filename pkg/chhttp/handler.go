// Package chhttp serves a ClickHouse-compatible HTTP interface over an
// embedded engine (pkg/chdb), so that ClickHouse clients — clickhouse-go v2
// in HTTP mode, clickhouse-connect (and with it dbt-clickhouse), curl — can
// talk to it as to a ClickHouse server on port 8123. What it supports and
// what it does not is written out in docs/warehouse-endpoint.md.
//
// Statements. Each request carries one statement: in the `query` URL
// parameter, in the body, or both (the parameter, a newline, then the body —
// INSERT data follows its FORMAT clause). A request holding more than one
// statement is refused before anything runs (code 62, "Multi-statements are
// not allowed"), as ClickHouse does. External tables (the files of a
// multipart/form-data body, described by `<name>_structure` or
// `<name>_types` and `<name>_format`) become temporary tables of the
// statement's engine connection for the statement's time.
//
// Results are returned in the format of the statement's FORMAT clause or
// `default_format` (TabSeparated when neither is given) and streamed as the
// engine produces them, one block in memory at a time. Like ClickHouse, the
// endpoint sends each block as it comes, so an error before the first block
// gets its HTTP status; a `buffer_size`/`http_response_buffer_size` above
// 1 MiB holds that much first, so a small result gets a Content-Length and a
// complete X-ClickHouse-Summary. An error after the first bytes were sent is appended as
// ClickHouse's exception block ("__exception__", the tag announced in
// X-ClickHouse-Exception-Tag, "Code: N. DB::Exception: ..."), which
// clickhouse-go and clickhouse-connect report as the server's exception.
// `wait_end_of_query=1` holds the whole result (in memory, then in a
// temporary file). A client that goes away cancels its statement: the engine
// stops it within a second. Native results come in the block layout of the
// client's client_protocol_version (at most maxRevision; revision() in
// clickhouse-go's server-info query reports the one used), as ClickHouse
// writes them: DateTime('Europe/Moscow') keeps its zone from revision 54337
// on; a client that sends no revision gets the engine's Native untouched,
// which is ClickHouse's revision 0.
//
// Sessions. A request with `session_id` runs in that session: its SET
// statements, current database (USE) and temporary tables last until the
// session expires `session_timeout` seconds (default 60, at most
// Options.MaxSessionTimeout) after its last request, and no other session
// sees them. One request at a time per session: a concurrent one gets code
// 373 SESSION_IS_LOCKED. Without a session, SET and USE change nothing
// (in ClickHouse they would last for that one statement) and CREATE
// TEMPORARY TABLE is refused with code 113 THERE_IS_NO_SESSION. Each
// session is a connection of its own to the engine (chdb.Conn).
//
// Concurrency. Statements run concurrently on a pool of engine connections:
// up to Options.MaxReaders SELECT-like statements and Options.MaxWriters
// others (INSERT, DDL, ...) at once, so a slow dashboard query delays
// neither other queries nor the loader's inserts. Every statement runs with
// the limits of Options.Limits (memory, result size) unless the request or
// its session sets them, and with max_execution_time bounded by
// Options.QueryTimeout.
package chhttp

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/chdb"
)

// Engine is the embedded engine; *chdb.Engine implements it.
type Engine interface {
	// Connect opens a connection of its own (a session) to the engine.
	Connect() (*chdb.Conn, error)
	// Exec runs one statement on the engine's own connection.
	Exec(ctx context.Context, req chdb.Request) (*chdb.Result, error)
}

var _ Engine = (*chdb.Engine)(nil)

// Options configure the endpoint. Zero values select the defaults.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// MaxBodyBytes bounds a request body, compressed and decompressed
	// (default 1 GiB).
	MaxBodyBytes int64
	// MaxQueryBytes bounds the SQL text of a statement that is not an INSERT
	// with data, and the part of an INSERT before its data (default 1 MiB).
	MaxQueryBytes int
	// QueryTimeout bounds one request, body upload and result included, and
	// is the statements' max_execution_time unless they set their own
	// (default 10 min).
	QueryTimeout time.Duration
	// DisplayName is reported as the server's display name (default: the
	// engine's displayName()).
	DisplayName string
	// MaxReaders bounds the SELECT-like statements (SELECT, SHOW, DESCRIBE,
	// EXISTS, EXPLAIN) running at once (default 8); MaxWriters the others:
	// INSERT, DDL, SET, ... (default 4). A statement waits for a free slot
	// within its QueryTimeout.
	MaxReaders, MaxWriters int
	// SessionTimeout is the session_timeout of a request that gives none
	// (default 60 s); MaxSessionTimeout the largest a request may ask for
	// (default 1 h). MaxSessions bounds the sessions kept at once (default
	// 256); a request that would open another gets code 700.
	SessionTimeout, MaxSessionTimeout time.Duration
	MaxSessions                       int
	// Limits are ClickHouse settings applied to every statement unless the
	// request or its session sets them (default DefaultLimits()). The result
	// limits (max_result_rows, max_result_bytes, result_overflow_mode) apply
	// to SELECT-like statements only.
	Limits map[string]string
	// MaxHeldBytes bounds the output of a wait_end_of_query=1 request kept in
	// memory; the rest goes to a temporary file in TempDir (default 64 MiB,
	// TempDir: os.TempDir()).
	MaxHeldBytes int
	TempDir      string
	// Users, when set, are who may query: a request authenticates as one of
	// them (see User), else it is refused with code 516
	// AUTHENTICATION_FAILED. Empty: any user and password are accepted,
	// with write access — an endpoint only its own machine reaches.
	Users []User
}

// DefaultLimits are the limits a statement runs with unless configured
// otherwise: 4 GiB of memory per statement (the engine's whole process may
// use 90 % of the machine's memory), at most a billion result rows and
// 10 GiB of result.
func DefaultLimits() map[string]string {
	return map[string]string{
		"max_memory_usage": strconv.FormatInt(4<<30, 10),
		"max_result_rows":  "1000000000",
		"max_result_bytes": strconv.FormatInt(10<<30, 10),
	}
}

// Handler is the HTTP endpoint. It is safe for concurrent use.
type Handler struct {
	engine   Engine
	log      *slog.Logger
	metrics  *metrics
	opts     Options
	readers  sync.Pool // *bufio.Reader of MaxQueryBytes
	pool     *pool
	sessions *sessions

	infoMu sync.Mutex
	info   *serverInfo
}

type serverInfo struct {
	displayName, version, timezone string
	settings                       map[string]bool // names of the engine's settings
}

// New returns the endpoint over engine. It fails only when the metrics
// cannot be registered. Close releases its sessions and connections.
func New(engine Engine, opts Options) (*Handler, error) {
	if engine == nil {
		return nil, errors.New("chhttp: nil engine")
	}
	if err := checkUsers(opts.Users); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault(&opts.MaxBodyBytes, 1<<30)
	setDefault(&opts.MaxQueryBytes, 1<<20)
	setDefault(&opts.QueryTimeout, 10*time.Minute)
	setDefault(&opts.MaxReaders, 8)
	setDefault(&opts.MaxWriters, 4)
	setDefault(&opts.SessionTimeout, 60*time.Second)
	setDefault(&opts.MaxSessionTimeout, time.Hour)
	setDefault(&opts.MaxSessions, 256)
	setDefault(&opts.MaxHeldBytes, 64<<20)
	if opts.Limits == nil {
		opts.Limits = DefaultLimits()
	}
	opts.Limits = maps.Clone(opts.Limits)
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	h := &Handler{engine: engine, log: opts.Logger, metrics: m, opts: opts}
	h.pool = newPool(engine, opts.MaxReaders, opts.MaxWriters)
	h.sessions = newSessions(engine, opts, m)
	size := opts.MaxQueryBytes
	h.readers.New = func() any { return bufio.NewReaderSize(nil, size) }
	return h, nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Close ends every session and closes the endpoint's engine connections;
// requests still running finish first. Serve no request afterwards.
func (h *Handler) Close() error {
	h.sessions.close()
	h.pool.close()
	return nil
}

// ClickHouse error codes the endpoint raises itself.
const (
	codeCannotParseText      = 6
	codeBadArguments         = 36
	codeSyntaxError          = 62
	codeNotImplemented       = 48
	codeThereIsNoSession     = 113
	codeTimeoutExceeded      = 159
	codeUnknownCompression   = 258
	codeTooManyBytes         = 307
	codeSessionNotFound      = 372
	codeSessionIsLocked      = 373
	codeInvalidSessionTimout = 374
	codeQueryWasCancelled    = 394
	codeSessionLimit         = 700
	codeCannotReadBody       = 1001 // STD_EXCEPTION
)

// httpError is an error the endpoint reports with its own status and code.
type httpError struct {
	status int
	code   int
	msg    string // "DB::Exception: ..."
}

func (e *httpError) Error() string { return fmt.Sprintf("Code: %d. %s", e.code, e.msg) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ping", "/replicas_status":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_, _ = io.WriteString(w, "Ok.\n")
		return
	case "/":
	default:
		http.Error(w, "There is no handle "+r.URL.Path, http.StatusNotFound)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodHead:
	default:
		w.Header().Set("Allow", "GET, POST, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.Method != http.MethodPost && r.URL.Query().Get("query") == "" {
		// Like ClickHouse: a GET without a query is a liveness check.
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_, _ = io.WriteString(w, "Ok.\n")
		return
	}
	h.metrics.inFlight.Inc()
	defer h.metrics.inFlight.Dec()
	start := time.Now()
	out := &response{h: h, w: w, r: r}
	kind, err := h.serve(out, r)
	h.metrics.queries.WithLabelValues(kind).Inc()
	h.metrics.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	if err != nil {
		out.fail(kind, err)
	}
}

// serve handles one statement and writes its response through out; a
// returned error has not been written yet.
func (h *Handler) serve(out *response, r *http.Request) (string, error) {
	req := h.parse(r)
	out.req = req
	if err := h.authenticate(req, r); err != nil {
		return kindOther, err
	}
	info, err := h.serverInfo(r.Context())
	if err != nil {
		return kindOther, err
	}
	hdr := out.w.Header()
	hdr.Set("X-ClickHouse-Query-Id", req.queryID)
	hdr.Set("X-ClickHouse-Server-Display-Name", info.displayName)
	hdr.Set("X-ClickHouse-Timezone", firstNonEmpty(req.settings["session_timezone"], info.timezone))
	if req.revision, err = negotiateRevision(req.params.Get("client_protocol_version")); err != nil {
		return kindOther, err
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	_ = http.NewResponseController(out.w).SetReadDeadline(time.Now().Add(h.opts.QueryTimeout))

	body := http.MaxBytesReader(out.w, r.Body, h.opts.MaxBodyBytes)
	decoded, closeBody, err := decodeBody(body, r.Header.Get("Content-Encoding"), req.params.Get("decompress") == "1")
	if err != nil {
		return kindOther, err
	}
	defer closeBody()
	if boundary := multipartBoundary(r); boundary != "" {
		defer req.closeExternal()
		if err := h.readMultipart(req, decoded, boundary); err != nil {
			return kindOther, err
		}
		decoded = strings.NewReader("")
		hdr.Set("X-ClickHouse-Query-Id", req.queryID)
	}
	if err := req.describeExternal(info); err != nil {
		return kindOther, err
	}
	var src io.Reader = &limitReader{r: decoded, n: h.opts.MaxBodyBytes}
	if q := req.params.Get("query"); q != "" {
		src = io.MultiReader(strings.NewReader(q+"\n"), src)
	}
	br := h.readers.Get().(*bufio.Reader)
	br.Reset(src)
	defer func() {
		br.Reset(nil)
		h.readers.Put(br)
	}()
	head, err := br.Peek(h.opts.MaxQueryBytes)
	complete := errors.Is(err, io.EOF)
	if err != nil && !complete && !errors.Is(err, bufio.ErrBufferFull) {
		return kindOther, err
	}
	st := scanStatement(head)
	insert := st.kind == kindInsert && st.dataOffset >= 0
	if !insert && !complete {
		return st.kind, &httpError{status: http.StatusRequestEntityTooLarge, code: codeSyntaxError,
			msg: fmt.Sprintf("DB::Exception: Max query size exceeded (%d bytes): an INSERT must name its data format within it. (SYNTAX_ERROR)", h.opts.MaxQueryBytes)}
	}
	if err := checkReadonly(req, st, head); err != nil {
		return st.kind, err
	}
	sql := strings.TrimSpace(string(head))
	if !insert && isHello(sql) && strings.EqualFold(req.format, "Native") && st.format == "" {
		out.format = "Native"
		return kindHello, out.finish(helloBlock(req.revision, info), &chdb.Result{RowsRead: 1})
	}

	lease, err := h.lease(ctx, req, st.kind == kindSelect)
	if err != nil {
		return st.kind, err
	}
	defer lease.done()
	creq := chdb.Request{Database: req.database, Params: req.qparams, Settings: req.settings, Defaults: h.limits(st.kind)}
	if len(req.tables) > 0 {
		if err := h.attachExternal(ctx, lease, req, creq); err != nil {
			return st.kind, err
		}
	}
	creq.ReadOnly = req.readonly

	if insert {
		if _, err := br.Discard(st.dataOffset); err != nil {
			return st.kind, err
		}
		creq.SQL, creq.Format = st.sql, st.format
		res, err := lease.conn.Insert(ctx, creq, br)
		lease.done()
		if err != nil {
			return st.kind, err
		}
		h.metrics.rowsWritten.Add(float64(res.RowsWritten))
		return st.kind, out.finish(nil, res)
	}
	if err := h.checkSingle(ctx, lease.conn, []byte(sql)); err != nil {
		return st.kind, err
	}
	if done, err := h.sessionStatement(ctx, lease, sql, creq); done || err != nil {
		lease.done()
		if err != nil {
			return st.kind, err
		}
		return st.kind, out.finish(nil, &chdb.Result{})
	}
	creq.SQL, creq.Format = sql, req.format
	out.format = firstNonEmpty(st.format, req.format)
	return st.kind, h.run(ctx, out, lease, st, creq, req.revision)
}

// limits are the default settings of a statement of kind.
func (h *Handler) limits(kind string) map[string]string {
	if kind == kindSelect {
		return h.opts.Limits
	}
	l := make(map[string]string, len(h.opts.Limits))
	for k, v := range h.opts.Limits {
		switch k {
		case "max_result_rows", "max_result_bytes", "result_overflow_mode":
		default:
			l[k] = v
		}
	}
	return l
}

// checkSingle refuses a text holding more than one statement, as ClickHouse
// does over HTTP. The engine's parser decides when the text looks like it
// (a semicolon followed by more text), so that a semicolon in a heredoc
// string, say, is no reason.
func (h *Handler) checkSingle(ctx context.Context, conn *chdb.Conn, sql []byte) error {
	at := multiStatementAt(sql)
	if at < 0 {
		return nil
	}
	a, err := conn.Analyze(ctx, string(sql))
	if err != nil {
		return err
	}
	if a.Statements == 1 {
		return nil
	}
	line := 1 + strings.Count(string(sql[:at]), "\n")
	col := at + 1 - (strings.LastIndexByte(string(sql[:at]), '\n') + 1)
	return &httpError{status: http.StatusBadRequest, code: codeSyntaxError,
		msg: fmt.Sprintf("DB::Exception: Syntax error (Multi-statements are not allowed): failed at position %d (end of query) (line %d, col %d): %s. (SYNTAX_ERROR)",
			at+1, line, col, clip(string(sql[at:]), 60))}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// sessionStatement gives SET, USE and CREATE TEMPORARY their session
// meaning. It reports whether it answered the statement.
func (h *Handler) sessionStatement(ctx context.Context, l *lease, sql string, creq chdb.Request) (bool, error) {
	text := []byte(sql)
	switch v := verb(text); {
	case v == "SET" && creq.ReadOnly == readOnly:
		// The engine decides which SET readonly mode allows.
		creq.SQL = sql
		_, err := l.conn.Exec(ctx, creq)
		return true, err
	case v == "SET":
		literals, ok := parseSet(text)
		if l.session == nil {
			// As in ClickHouse, a SET outside a session lasts for its own
			// statement: check it and change nothing.
			if !ok {
				return true, nil
			}
			if err := l.conn.Set(ctx, literals); err != nil {
				return true, err
			}
			reset := make(map[string]string, len(literals))
			for k := range literals {
				reset[k] = "DEFAULT"
			}
			return true, l.conn.Set(ctx, reset)
		}
		if ok {
			return true, l.conn.Set(ctx, literals)
		}
		creq.SQL = sql
		_, err := l.conn.Exec(ctx, creq)
		return true, err
	case v == "USE" && l.session == nil:
		return true, nil
	case createsTemporary(text) && l.session == nil:
		return true, &httpError{status: http.StatusInternalServerError, code: codeThereIsNoSession,
			msg: "DB::Exception: There is no session or session context has expired: temporary tables need a session_id. (THERE_IS_NO_SESSION)"}
	}
	return false, nil
}

// run executes a statement that may produce output: streamed when the
// engine streams it, materialized otherwise. A Native result is written at
// revision (negotiateRevision).
func (h *Handler) run(ctx context.Context, out *response, l *lease, st statement, creq chdb.Request, revision uint64) error {
	var tc *nativeTranscoder
	if revision > 0 && strings.EqualFold(out.format, "Native") {
		tc = &nativeTranscoder{revision: revision, binaryTypes: settingOn(creq.Settings[nativeBinaryTypes])}
		creq.Overrides = withSetting(creq.Overrides, nativeBinaryTypes, "1")
	}
	if ok, join := streaming(out.format, creq.SQL, creq.Settings); ok && streams([]byte(creq.SQL)) {
		err := h.stream(ctx, out, l, creq, tc, join)
		if !errors.Is(err, chdb.ErrNotStreamable) {
			return nativeError(err, revision)
		}
	}
	res, err := l.conn.Exec(ctx, creq)
	if err == nil && tc != nil {
		var data []byte
		if data, err = tc.write(res.Data); err == nil {
			res.Data, err = data, tc.finish()
		}
	}
	l.done()
	if err != nil {
		return nativeError(err, revision)
	}
	if st.kind != kindSelect && len(res.Data) == 0 {
		out.format = ""
	}
	return out.finish(res.Data, res)
}

// nativeError says which revision a result the transcoder cannot write was
// asked at (code 48, NOT_IMPLEMENTED); other errors pass.
func nativeError(err error, revision uint64) error {
	if !errors.Is(err, errUnsupportedType) {
		return err
	}
	return &httpError{status: http.StatusNotImplemented, code: codeNotImplemented,
		msg: fmt.Sprintf("DB::Exception: The endpoint cannot write this result in Native at protocol revision %d (client_protocol_version): %v; without client_protocol_version it comes as the engine writes it (revision 0). (NOT_IMPLEMENTED)", revision, err)}
}

// settingOn tells whether a boolean setting's value is true.
func settingOn(v string) bool {
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// stream runs a streamed query and writes its blocks as they come, joined
// into one output of the format by join when they do not concatenate, and
// rewritten by tc when it is not nil.
func (h *Handler) stream(ctx context.Context, out *response, l *lease, creq chdb.Request, tc *nativeTranscoder, join joiner) error {
	rows, err := l.conn.Query(ctx, creq)
	if err != nil {
		return err
	}
	defer rows.Close()
	first := true
	for rows.Next() {
		chunk := rows.Chunk()
		if join != nil {
			if chunk, err = join.block(chunk, first); err != nil {
				return fmt.Errorf("join the %s blocks: %w", out.format, err)
			}
		}
		if tc != nil {
			chunk, err = tc.write(chunk)
			if err == nil && first && len(chunk) == 0 {
				err = errors.New("native: first block incomplete")
			}
			if err != nil {
				if first && errors.Is(err, errUnsupportedType) {
					return err
				}
				return fmt.Errorf("transcode Native block: %w", err)
			}
		}
		first = false
		if err := out.write(chunk, rows.Stats()); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		if out.r.Context().Err() != nil {
			h.metrics.cancelled.Inc()
		}
		return err
	}
	if tc != nil {
		if err := tc.finish(); err != nil {
			return err
		}
	}
	stats := rows.Stats()
	_ = rows.Close()
	l.done()
	var tail []byte
	if join != nil && !first {
		tail = join.end()
	}
	return out.finish(tail, &stats)
}

func withSetting(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

// helloBlock answers clickhouse-go's server-info query in Native at the
// negotiated revision, reporting that revision: clickhouse-go decodes every
// later result of the connection at it, and sends the same
// client_protocol_version with each.
func helloBlock(revision uint64, info *serverInfo) []byte {
	return encodeNative(revision, []nativeColumn{
		{name: "displayName()", typ: "String", strs: []string{info.displayName}},
		{name: "version()", typ: "String", strs: []string{info.version}},
		{name: "revision()", typ: "UInt32", u32s: []uint32{uint32(revision)}},
		{name: "timezone()", typ: "String", strs: []string{info.timezone}},
	})
}

func (h *Handler) serverInfo(ctx context.Context) (*serverInfo, error) {
	h.infoMu.Lock()
	defer h.infoMu.Unlock()
	if h.info != nil {
		return h.info, nil
	}
	res, err := h.engine.Exec(ctx, chdb.Request{SQL: "SELECT displayName(), version(), timezone()", Format: "TabSeparated"})
	if err != nil {
		return nil, fmt.Errorf("query server info: %w", err)
	}
	f := strings.Split(strings.TrimRight(string(res.Data), "\n"), "\t")
	if len(f) != 3 {
		return nil, fmt.Errorf("query server info: unexpected answer %q", res.Data)
	}
	names, err := h.engine.Exec(ctx, chdb.Request{SQL: "SELECT name FROM system.settings", Format: "TabSeparated"})
	if err != nil {
		return nil, fmt.Errorf("query setting names: %w", err)
	}
	info := &serverInfo{displayName: firstNonEmpty(h.opts.DisplayName, f[0]), version: f[1], timezone: f[2], settings: map[string]bool{}}
	for _, n := range strings.Split(strings.TrimSpace(string(names.Data)), "\n") {
		info.settings[n] = true
	}
	h.info = info
	return info, nil
}

func summary(res *chdb.Result, resultBytes int) string {
	resultRows := res.RowsRead
	if res.RowsWritten > 0 {
		resultRows = 0
	}
	return fmt.Sprintf(`{"read_rows":"%d","read_bytes":"%d","written_rows":"%d","written_bytes":"%d","total_rows_to_read":"%d","result_rows":"%d","result_bytes":"%d","elapsed_ns":"%d"}`,
		res.RowsRead, res.BytesRead, res.RowsWritten, res.BytesWritten, res.RowsRead, resultRows, resultBytes, res.Elapsed.Nanoseconds())
}

// classify maps an error to the HTTP status, code and text ClickHouse would
// answer.
func classify(err error) (status, code int, msg string) {
	var ce *chdb.Error
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.status, he.code, he.msg
	case errors.As(err, &ce) && ce.Code > 0:
		return statusFor(ce.Code), ce.Code, ce.Message
	case errors.As(err, &mbe), errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge, codeTooManyBytes, "DB::Exception: Request body is larger than the server accepts. (TOO_MANY_BYTES)"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusInternalServerError, codeTimeoutExceeded, "DB::Exception: Timeout exceeded: " + err.Error() + ". (TIMEOUT_EXCEEDED)"
	case errors.Is(err, context.Canceled):
		return http.StatusInternalServerError, codeQueryWasCancelled, "DB::Exception: Query was cancelled: " + err.Error() + ". (QUERY_WAS_CANCELLED)"
	case errors.As(err, &ce):
		return http.StatusInternalServerError, codeCannotReadBody, "DB::Exception: " + ce.Message + ". (STD_EXCEPTION)"
	default:
		return http.StatusBadRequest, codeCannotReadBody, "DB::Exception: " + err.Error() + ". (STD_EXCEPTION)"
	}
}

// statusFor maps an error code to the HTTP status ClickHouse answers with.
func statusFor(code int) int {
	switch code {
	case 192, 193, 194, 516: // UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED
		return http.StatusUnauthorized
	case 497, 164: // ACCESS_DENIED, READONLY
		return http.StatusForbidden
	case 6, 15, 25, 26, 27, 38, 41, 44, 53, 62, 72, 117, 167, 168, 321, 374, 376: // parse/type errors, INVALID_SESSION_TIMEOUT
		return http.StatusBadRequest
	case 46, 47, 50, 56, 60, 63, 73, 81, 115, 336: // UNKNOWN_*
		return http.StatusNotFound
	case 48: // NOT_IMPLEMENTED
		return http.StatusNotImplemented
	default:
		return http.StatusInternalServerError
	}
}

func contentType(format string) string {
	f := strings.ToLower(format)
	switch {
	case strings.HasPrefix(f, "tabseparated"), strings.HasPrefix(f, "tsv"):
		return "text/tab-separated-values; charset=UTF-8"
	case strings.HasPrefix(f, "csv"):
		return "text/csv; charset=UTF-8"
	case f == "jsoneachrow", f == "jsonlines", f == "ndjson", f == "jsoncompacteachrow", f == "jsonstringseachrow":
		return "application/x-ndjson; charset=UTF-8"
	case strings.HasPrefix(f, "json"):
		return "application/json; charset=UTF-8"
	case f == "xml":
		return "application/xml; charset=UTF-8"
	case strings.HasPrefix(f, "pretty"), f == "vertical", f == "markdown", f == "values":
		return "text/plain; charset=UTF-8"
	default:
		return "application/octet-stream"
	}
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func newQueryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
