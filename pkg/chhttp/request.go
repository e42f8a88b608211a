package chhttp

import (
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// request is one parsed HTTP request.
type request struct {
	params    url.Values
	database  string
	format    string // default_format
	settings  map[string]string
	qparams   map[string]string
	queryID   string
	sessionID string
	// files names the external tables sent as multipart files.
	files []string
}

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

func (h *Handler) parse(r *http.Request) (*request, error) {
	params := r.URL.Query()
	var files []string
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return nil, &httpError{status: http.StatusBadRequest, code: codeCannotReadBody, msg: "DB::Exception: Cannot parse multipart form: " + err.Error()}
		}
		for name := range r.MultipartForm.File {
			files = append(files, name)
		}
		for k, vs := range r.MultipartForm.Value {
			params[k] = vs
		}
	}
	req := &request{
		params:    params,
		database:  firstNonEmpty(params.Get("database"), r.Header.Get("X-ClickHouse-Database")),
		format:    firstNonEmpty(params.Get("default_format"), r.Header.Get("X-ClickHouse-Format"), "TabSeparated"),
		queryID:   firstNonEmpty(params.Get("query_id"), r.Header.Get("X-ClickHouse-Query-Id")),
		sessionID: params.Get("session_id"),
		settings:  map[string]string{},
		qparams:   map[string]string{},
		files:     files,
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

// external refuses external tables: multipart files, or parameters that
// describe one (<name>_structure, <name>_types and their <name>_format) and
// are no setting of the engine.
func (req *request) external(info *serverInfo) error {
	tables := slices.Clone(req.files)
	for k := range req.settings {
		for _, suffix := range []string{"_structure", "_types"} {
			if name, ok := strings.CutSuffix(k, suffix); ok && name != "" && !info.settings[k] {
				tables = append(tables, name)
			}
		}
	}
	if len(tables) == 0 {
		return nil
	}
	slices.Sort(tables)
	tables = slices.Compact(tables)
	return &httpError{status: http.StatusNotImplemented, code: codeNotImplemented,
		msg: "DB::Exception: External tables are not supported by this server (the request sends " + strings.Join(tables, ", ") +
			"); load the data into a table, or into a temporary table of a session, first. (NOT_IMPLEMENTED)"}
}
