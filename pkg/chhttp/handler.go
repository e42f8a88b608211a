// Package chhttp serves a ClickHouse-compatible HTTP interface over an
// embedded engine (pkg/chdb), so that ClickHouse clients — clickhouse-go v2
// in HTTP mode, clickhouse-connect (and with it dbt-clickhouse), curl — can
// talk to it as to a ClickHouse server on port 8123.
//
// Each request carries one statement: in the `query` URL parameter, in the
// body, or both (the parameter, a newline, then the body — INSERT data
// follows its FORMAT clause). INSERT data is streamed to the engine; results
// are returned in the format of the statement's FORMAT clause or
// `default_format` (TabSeparated when neither is given).
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
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/chdb"
)

// Engine runs statements; *chdb.Engine implements it.
type Engine interface {
	Exec(ctx context.Context, req chdb.Request) (*chdb.Result, error)
	Insert(ctx context.Context, req chdb.Request, data io.Reader) (*chdb.Result, error)
}

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
	// QueryTimeout bounds one request, body upload included (default 10 min).
	QueryTimeout time.Duration
	// DisplayName is reported as the server's display name (default: the
	// engine's displayName()).
	DisplayName string
}

// Handler is the HTTP endpoint. It is safe for concurrent use; statements
// run one at a time on the engine.
type Handler struct {
	engine  Engine
	log     *slog.Logger
	metrics *metrics
	opts    Options
	readers sync.Pool // *bufio.Reader of MaxQueryBytes

	infoMu sync.Mutex
	info   *serverInfo
}

type serverInfo struct {
	displayName, version, timezone string
}

// New returns the endpoint over engine. It fails only when the metrics
// cannot be registered.
func New(engine Engine, opts Options) (*Handler, error) {
	if engine == nil {
		return nil, errors.New("chhttp: nil engine")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 30
	}
	if opts.MaxQueryBytes <= 0 {
		opts.MaxQueryBytes = 1 << 20
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 10 * time.Minute
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	h := &Handler{engine: engine, log: opts.Logger, metrics: m, opts: opts}
	size := opts.MaxQueryBytes
	h.readers.New = func() any { return bufio.NewReaderSize(nil, size) }
	return h, nil
}

// ClickHouse error codes the endpoint raises itself.
const (
	codeSyntaxError        = 62
	codeNotImplemented     = 48
	codeTimeoutExceeded    = 159
	codeTooManyBytes       = 307
	codeUnknownCompression = 258
	codeCannotReadBody     = 1001 // STD_EXCEPTION
)

// httpError is an error the endpoint reports with its own status and code.
type httpError struct {
	status int
	code   int
	msg    string // "DB::Exception: ..."
}

func (e *httpError) Error() string { return fmt.Sprintf("Code: %d. %s", e.code, e.msg) }

// isTransportParam tells URL parameters that concern the HTTP transport or
// the client, never engine settings.
func isTransportParam(k string) bool {
	switch k {
	case "query", "database", "default_format", "query_id",
		"session_id", "session_timeout", "session_check", "close_session",
		"compress", "decompress", "client_protocol_version",
		"enable_http_compression", "http_zlib_compression_level",
		"network_compression_method", "network_zstd_compression_level",
		"http_native_compression_disable_checksumming_on_decompress",
		"user", "password", "quota_key", "role", "stacktrace",
		"buffer_size", "wait_end_of_query", "http_response_buffer_size",
		"send_progress_in_http_headers", "http_headers_progress_interval_ms",
		"cancel_http_readonly_queries_on_client_close", "http_wait_end_of_query":
		return true
	}
	return false
}

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
	kind, err := h.serve(w, r)
	h.metrics.queries.WithLabelValues(kind).Inc()
	h.metrics.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	if err != nil {
		h.fail(w, r, kind, err)
	}
}

// request is one parsed HTTP request.
type request struct {
	params   url.Values
	database string
	format   string // default_format
	settings map[string]string
	qparams  map[string]string
	queryID  string
}

func (h *Handler) parse(r *http.Request) (*request, error) {
	params := r.URL.Query()
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return nil, &httpError{status: http.StatusBadRequest, code: codeCannotReadBody, msg: "DB::Exception: Cannot parse multipart form: " + err.Error()}
		}
		if len(r.MultipartForm.File) > 0 {
			return nil, &httpError{status: http.StatusNotImplemented, code: codeNotImplemented, msg: "DB::Exception: External tables are not supported by this server. (NOT_IMPLEMENTED)"}
		}
		for k, vs := range r.MultipartForm.Value {
			params[k] = vs
		}
	}
	req := &request{
		params:   params,
		database: firstNonEmpty(params.Get("database"), r.Header.Get("X-ClickHouse-Database")),
		format:   firstNonEmpty(params.Get("default_format"), r.Header.Get("X-ClickHouse-Format"), "TabSeparated"),
		queryID:  firstNonEmpty(params.Get("query_id"), r.Header.Get("X-ClickHouse-Query-Id")),
		settings: map[string]string{},
		qparams:  map[string]string{},
	}
	if req.queryID == "" {
		req.queryID = newQueryID()
	}
	for k, vs := range params {
		if len(vs) == 0 {
			continue
		}
		v := vs[len(vs)-1]
		switch {
		case strings.HasPrefix(k, "param_"):
			req.qparams[strings.TrimPrefix(k, "param_")] = v
		case isTransportParam(k):
		default:
			req.settings[k] = v
		}
	}
	return req, nil
}

// serve handles one statement and writes its response; a returned error has
// not been written yet.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (string, error) {
	req, err := h.parse(r)
	if err != nil {
		return kindOther, err
	}
	info, err := h.serverInfo(r.Context())
	if err != nil {
		return kindOther, err
	}
	hdr := w.Header()
	hdr.Set("X-ClickHouse-Query-Id", req.queryID)
	hdr.Set("X-ClickHouse-Server-Display-Name", info.displayName)
	hdr.Set("X-ClickHouse-Timezone", info.timezone)

	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.opts.QueryTimeout))

	body := http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	decoded, closeBody, err := decodeBody(body, r.Header.Get("Content-Encoding"), req.params.Get("decompress") == "1")
	if err != nil {
		return kindOther, err
	}
	defer closeBody()
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
	creq := chdb.Request{Database: req.database, Params: req.qparams, Settings: req.settings}

	if st.kind == kindInsert && st.dataOffset >= 0 {
		if _, err := br.Discard(st.dataOffset); err != nil {
			return st.kind, err
		}
		creq.SQL, creq.Format = st.sql, st.format
		res, err := h.engine.Insert(ctx, creq, br)
		if err != nil {
			return st.kind, err
		}
		h.metrics.rowsWritten.Add(float64(res.RowsWritten))
		h.writeResult(w, r, req, "", res, nil)
		return st.kind, nil
	}
	if !complete {
		return st.kind, &httpError{status: http.StatusRequestEntityTooLarge, code: codeSyntaxError,
			msg: fmt.Sprintf("DB::Exception: Max query size exceeded (%d bytes): an INSERT must name its data format within it. (SYNTAX_ERROR)", h.opts.MaxQueryBytes)}
	}
	sql := strings.TrimSpace(string(head))
	format := req.format
	if isHello(sql) && strings.EqualFold(format, "Native") && st.format == "" {
		rev, _ := strconv.ParseUint(req.params.Get("client_protocol_version"), 10, 64)
		h.writeResult(w, r, req, "Native", &chdb.Result{RowsRead: 1, Data: helloBlock(rev, info)}, nil)
		return kindHello, nil
	}
	creq.SQL, creq.Format = sql, format
	res, err := h.engine.Exec(ctx, creq)
	if err != nil {
		return st.kind, err
	}
	outFormat := firstNonEmpty(st.format, format)
	if st.kind != kindSelect && len(res.Data) == 0 {
		outFormat = ""
	}
	h.writeResult(w, r, req, outFormat, res, nil)
	return st.kind, nil
}

// helloBlock answers clickhouse-go's server-info query in Native at the
// client's revision, reporting revision 0: the engine writes Native without
// the block info and serialization flags a newer revision would add, so the
// client must read every later result at revision 0.
func helloBlock(revision uint64, info *serverInfo) []byte {
	return encodeNative(revision, []nativeColumn{
		{name: "displayName()", typ: "String", strs: []string{info.displayName}},
		{name: "version()", typ: "String", strs: []string{info.version}},
		{name: "revision()", typ: "UInt32", u32s: []uint32{0}},
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
	info := &serverInfo{displayName: firstNonEmpty(h.opts.DisplayName, f[0]), version: f[1], timezone: f[2]}
	h.info = info
	return info, nil
}

func (h *Handler) writeResult(w http.ResponseWriter, r *http.Request, req *request, format string, res *chdb.Result, _ error) {
	hdr := w.Header()
	if format != "" {
		hdr.Set("X-ClickHouse-Format", format)
		hdr.Set("Content-Type", contentType(format))
	} else {
		hdr.Set("Content-Type", "text/plain; charset=UTF-8")
	}
	hdr.Set("X-ClickHouse-Summary", summary(res))
	data := res.Data
	var err error
	switch {
	case len(data) == 0:
	case req.params.Get("compress") == "1":
		data, err = encodeCHFramed(data, req.params.Get("network_compression_method"))
	case req.params.Get("enable_http_compression") == "1":
		if enc := chooseEncoding(r.Header.Get("Accept-Encoding")); enc != "" {
			level, _ := strconv.Atoi(req.params.Get("http_zlib_compression_level"))
			data, err = encodeBody(data, enc, level)
			hdr.Set("Content-Encoding", enc)
		}
	}
	if err != nil {
		hdr.Del("Content-Encoding")
		h.fail(w, r, kindOther, err)
		return
	}
	hdr.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

func summary(res *chdb.Result) string {
	resultRows := res.RowsRead
	if res.RowsWritten > 0 {
		resultRows = 0
	}
	return fmt.Sprintf(`{"read_rows":"%d","read_bytes":"%d","written_rows":"%d","written_bytes":"%d","total_rows_to_read":"%d","result_rows":"%d","result_bytes":"%d","elapsed_ns":"%d"}`,
		res.RowsRead, res.BytesRead, res.RowsWritten, res.BytesWritten, res.RowsRead, resultRows, len(res.Data), res.Elapsed.Nanoseconds())
}

// fail writes err the way ClickHouse does: a status from the error code, the
// code in X-ClickHouse-Exception-Code and "Code: N. DB::Exception: ..." text.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, kind string, err error) {
	status, code, msg := classify(err)
	h.metrics.errors.WithLabelValues(strconv.Itoa(code)).Inc()
	if status >= 500 && code != codeTimeoutExceeded {
		h.log.Warn("clickhouse http request failed", "kind", kind, "code", code, "err", err)
	}
	hdr := w.Header()
	for _, k := range []string{"X-ClickHouse-Format", "X-ClickHouse-Summary", "Content-Encoding", "Content-Length"} {
		hdr.Del(k)
	}
	hdr.Set("X-ClickHouse-Exception-Code", strconv.Itoa(code))
	hdr.Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = fmt.Fprintf(w, "Code: %d. %s\n", code, strings.TrimSpace(msg))
	}
}

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
	case 6, 15, 25, 26, 27, 38, 41, 44, 53, 62, 72, 117, 167, 168, 321, 376: // parse/type errors
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
