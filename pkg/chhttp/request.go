package chhttp

import (
	"net/http"
	"net/url"
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
	header    http.Header
	// user is who the request authenticated as; readonly its ClickHouse
	// readonly level (readWrite, readOnly, readOnlyByGET).
	user     string
	readonly int
	// revision is the Native protocol revision of the response
	// (negotiateRevision).
	revision uint64
	// tables are the external tables a multipart/form-data body sent.
	tables []*externalTable
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

func (h *Handler) parse(r *http.Request) *request {
	req := &request{params: r.URL.Query(), header: r.Header}
	req.classify()
	return req
}

// classify derives the request's transport values, query parameters and
// settings from its parameters (again after a multipart body added some).
func (req *request) classify() {
	params := req.params
	req.database = firstNonEmpty(params.Get("database"), req.header.Get("X-ClickHouse-Database"))
	req.format = firstNonEmpty(params.Get("default_format"), req.header.Get("X-ClickHouse-Format"), "TabSeparated")
	req.queryID = firstNonEmpty(params.Get("query_id"), req.header.Get("X-ClickHouse-Query-Id"), req.queryID)
	if req.queryID == "" {
		req.queryID = newQueryID()
	}
	req.sessionID = params.Get("session_id")
	req.settings = map[string]string{}
	req.qparams = map[string]string{}
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
}
