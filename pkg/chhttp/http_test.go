package chhttp_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/serviceping/serviceping/pkg/chhttp"
	"github.com/serviceping/serviceping/pkg/chtest"
)

type httpResult struct {
	status int
	header http.Header
	body   string
}

// do sends one request to the shared endpoint.
func do(t *testing.T, method string, params url.Values, body io.Reader, header http.Header) httpResult {
	t.Helper()
	req := request(t, method, endpoint(t), params, body)
	maps.Copy(req.Header, header)
	return roundTrip(t, req)
}

// request is a request to the endpoint at base with params in its URL.
func request(t *testing.T, method, base string, params url.Values, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, base+"/?"+params.Encode(), body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// roundTrip sends req and reads the whole answer.
func roundTrip(t *testing.T, req *http.Request) httpResult {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return httpResult{status: res.StatusCode, header: res.Header, body: string(b)}
}

func mustOK(t *testing.T, r httpResult) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	return r.body
}

func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestHTTPPing(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/ping", "/"} {
		res, err := http.Get(endpoint(t) + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "Ok.\n" {
			t.Fatalf("GET %s = %d %q, want 200 \"Ok.\\n\"", path, res.StatusCode, b)
		}
	}
	res, err := http.Get(endpoint(t) + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /nope = %d, want 404", res.StatusCode)
	}
}

func TestHTTPQueryPlacement(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		params url.Values
		body   string
		want   string
	}{
		{"GET query param", http.MethodGet, q("query", "SELECT 1"), "", "1\n"},
		{"POST body", http.MethodPost, nil, "SELECT 2", "2\n"},
		{"POST param and body", http.MethodPost, q("query", "SELECT 3,"), "4", "3\t4\n"},
		{"FORMAT clause", http.MethodPost, nil, "SELECT 5 AS x FORMAT JSONEachRow", "{\"x\":5}\n"},
		{"default_format", http.MethodPost, q("default_format", "CSV"), "SELECT 'a', 6", "\"a\",6\n"},
		{"query parameters", http.MethodPost, q("param_x", "41", "param_s", `a\tb`), "SELECT {x:UInt8} + 1 AS x, {s:String} AS s FORMAT JSONEachRow", "{\"x\":42,\"s\":\"a\\tb\"}\n"},
		{"settings", http.MethodPost, q("max_threads", "3"), "SELECT getSetting('max_threads')", "3\n"},
		{"client-only parameters ignored", http.MethodPost, q("session_id", "abc", "session_timeout", "60", "wait_end_of_query", "1", "client_protocol_version", "54405"), "SELECT 7", "7\n"},
		{"comment and semicolon", http.MethodPost, nil, "-- hello\nSELECT 8;", "8\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustOK(t, do(t, tc.method, tc.params, strings.NewReader(tc.body), nil))
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	// Settings of one request do not leak into the next.
	mustOK(t, do(t, http.MethodPost, q("max_block_size", "777"), strings.NewReader("SELECT 1"), nil))
	if got := mustOK(t, do(t, http.MethodPost, nil, strings.NewReader("SELECT getSetting('max_block_size') != 777"), nil)); got != "1\n" {
		t.Fatalf("max_block_size leaked into the next request")
	}
}

func TestHTTPResultFormats(t *testing.T) {
	t.Parallel()
	sql := "SELECT number AS n, toString(number) AS s FROM numbers(2)"
	tests := []struct {
		format, contentType, want string
	}{
		{"TabSeparated", "text/tab-separated-values", "0\t0\n1\t1\n"},
		{"TSVWithNames", "text/tab-separated-values", "n\ts\n0\t0\n1\t1\n"},
		{"CSV", "text/csv", "0,\"0\"\n1,\"1\"\n"},
		{"JSONEachRow", "application/x-ndjson", "{\"n\":0,\"s\":\"0\"}\n{\"n\":1,\"s\":\"1\"}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			res := do(t, http.MethodPost, nil, strings.NewReader(sql+" FORMAT "+tc.format), nil)
			got := mustOK(t, res)
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Fatalf("Content-Type %q, want %s", ct, tc.contentType)
			}
			if f := res.header.Get("X-ClickHouse-Format"); f != tc.format {
				t.Fatalf("X-ClickHouse-Format %q, want %s", f, tc.format)
			}
		})
	}
	t.Run("JSON", func(t *testing.T) {
		res := do(t, http.MethodPost, q("default_format", "JSON"), strings.NewReader(sql), nil)
		var doc struct {
			Meta []struct{ Name, Type string }
			Data []map[string]any
			Rows int
		}
		if err := json.Unmarshal([]byte(mustOK(t, res)), &doc); err != nil {
			t.Fatalf("decode JSON: %v", err)
		}
		if doc.Rows != 2 || len(doc.Meta) != 2 || doc.Meta[0].Type != "UInt64" || doc.Data[1]["s"] != "1" {
			t.Fatalf("JSON result %+v", doc)
		}
		for _, h := range []string{"X-ClickHouse-Query-Id", "X-ClickHouse-Server-Display-Name", "X-ClickHouse-Timezone", "X-ClickHouse-Summary"} {
			if res.header.Get(h) == "" {
				t.Fatalf("missing header %s", h)
			}
		}
		var sum map[string]string
		if err := json.Unmarshal([]byte(res.header.Get("X-ClickHouse-Summary")), &sum); err != nil || sum["read_rows"] != "2" {
			t.Fatalf("X-ClickHouse-Summary %q: %v", res.header.Get("X-ClickHouse-Summary"), err)
		}
	})
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sql    string
		status int
		code   string
	}{
		{"syntax", "SELEC 1", 400, "62"},
		{"unknown table", "SELECT * FROM nowhere.nothing", 404, "81"},
		{"unknown table in default", "SELECT * FROM nothing", 404, "60"},
		{"runtime", "SELECT throwIf(1)", 500, "395"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, http.MethodPost, nil, strings.NewReader(tc.sql), nil)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
			}
			if got := res.header.Get("X-ClickHouse-Exception-Code"); got != tc.code {
				t.Fatalf("X-ClickHouse-Exception-Code %q, want %s", got, tc.code)
			}
			if !strings.HasPrefix(res.body, "Code: "+tc.code+". DB::Exception: ") {
				t.Fatalf("body %q", res.body)
			}
		})
	}
	t.Run("body too large", func(t *testing.T) {
		// The shared handler accepts 1 GiB; a gzip bomb over a smaller
		// handler is covered by TestHTTPBodyLimit.
		res := do(t, http.MethodPost, nil, strings.NewReader("SELECT 1"), http.Header{"Content-Encoding": {"snappy-nope"}})
		if res.status != http.StatusUnsupportedMediaType || res.header.Get("X-ClickHouse-Exception-Code") == "" {
			t.Fatalf("unknown Content-Encoding: %d %q", res.status, res.body)
		}
	})
	if v := metricValue(t, "serviceping_chhttp_errors_total", "code", "62"); v < 1 {
		t.Fatalf("errors_total{code=62} = %v", v)
	}
}

// compressed is b written through the compressing writer newWriter makes.
func compressed[W io.WriteCloser](b []byte, newWriter func(io.Writer) W) []byte {
	var buf bytes.Buffer
	w := newWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func gz(b []byte) []byte { return compressed(b, gzip.NewWriter) }
func zl(b []byte) []byte { return compressed(b, zlib.NewWriter) }
func l4(b []byte) []byte { return compressed(b, lz4.NewWriter) }

func zs(b []byte) []byte {
	w, _ := zstd.NewWriter(nil)
	defer w.Close()
	return w.EncodeAll(b, nil)
}

// rowBinary encodes rows of (UInt32, String, Float64).
func rowBinary(rows [][3]any) []byte {
	var b []byte
	for _, r := range rows {
		b = binary.LittleEndian.AppendUint32(b, r[0].(uint32))
		s := r[1].(string)
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r[2].(float64)))
	}
	return b
}

func TestHTTPInsertFormatsAndEncodings(t *testing.T) {
	t.Parallel()
	db := database(t, "http_insert")
	mustOK(t, do(t, http.MethodPost, q("database", db), strings.NewReader("CREATE TABLE t (id UInt32, name String, v Float64) ENGINE = MergeTree ORDER BY id"), nil))

	rows := [][3]any{{uint32(1), "a\tb", 1.5}, {uint32(2), "c,\"d\"", -2.25}, {uint32(3), "ünï", 0.0}}
	bodies := map[string][]byte{
		"RowBinary":    rowBinary(rows),
		"JSONEachRow":  []byte("{\"id\":1,\"name\":\"a\\tb\",\"v\":1.5}\n{\"id\":2,\"name\":\"c,\\\"d\\\"\",\"v\":-2.25}\n{\"id\":3,\"name\":\"ünï\",\"v\":0}\n"),
		"CSV":          []byte("1,\"a\tb\",1.5\n2,\"c,\"\"d\"\"\",-2.25\n3,ünï,0\n"),
		"TabSeparated": []byte("1\ta\\tb\t1.5\n2\tc,\"d\"\t-2.25\n3\tünï\t0\n"),
	}
	encodings := map[string]func([]byte) []byte{
		"":        func(b []byte) []byte { return b },
		"gzip":    gz,
		"deflate": zl,
		"zstd":    zs,
		"lz4":     l4,
	}
	const want = "1\ta\\tb\t1.5\n2\tc,\"d\"\t-2.25\n3\tünï\t0\n"
	for format, body := range bodies {
		for enc, encode := range encodings {
			t.Run(format+"/"+enc, func(t *testing.T) {
				mustOK(t, do(t, http.MethodPost, q("database", db), strings.NewReader("TRUNCATE TABLE t"), nil))
				h := http.Header{}
				if enc != "" {
					h.Set("Content-Encoding", enc)
				}
				res := do(t, http.MethodPost, q("database", db, "query", "INSERT INTO t FORMAT "+format), bytes.NewReader(encode(body)), h)
				mustOK(t, res)
				var sum map[string]string
				if err := json.Unmarshal([]byte(res.header.Get("X-ClickHouse-Summary")), &sum); err != nil || sum["written_rows"] != "3" {
					t.Fatalf("summary %q", res.header.Get("X-ClickHouse-Summary"))
				}
				got := mustOK(t, do(t, http.MethodGet, q("database", db, "query", "SELECT * FROM t ORDER BY id"), nil, nil))
				if got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			})
		}
	}
	t.Run("inline data in body", func(t *testing.T) {
		mustOK(t, do(t, http.MethodPost, q("database", db), strings.NewReader("TRUNCATE TABLE t"), nil))
		mustOK(t, do(t, http.MethodPost, q("database", db), strings.NewReader("INSERT INTO t (id, name, v) FORMAT CSV\n1,x,1\n2,y,2\n"), nil))
		mustOK(t, do(t, http.MethodPost, q("database", db), strings.NewReader("INSERT INTO t VALUES (3, 'z', 3), (4, 'w', 4)"), nil))
		mustOK(t, do(t, http.MethodPost, q("database", db, "query", "INSERT INTO t VALUES"), strings.NewReader("(5, 'v', 5)"), nil))
		got := mustOK(t, do(t, http.MethodGet, q("database", db, "query", "SELECT groupArray(name) FROM (SELECT name FROM t ORDER BY id)"), nil, nil))
		if got != "['x','y','z','w','v']\n" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("bad data", func(t *testing.T) {
		res := do(t, http.MethodPost, q("database", db, "query", "INSERT INTO t FORMAT CSV"), strings.NewReader("1,a,1\nnot-a-number,b,2\n"), nil)
		if res.status != 400 || res.header.Get("X-ClickHouse-Exception-Code") != "27" {
			t.Fatalf("bad CSV: %d %s %q", res.status, res.header.Get("X-ClickHouse-Exception-Code"), res.body)
		}
	})
}

func TestHTTPResponseCompression(t *testing.T) {
	t.Parallel()
	sql := "SELECT number FROM numbers(1000) FORMAT CSV"
	plain := mustOK(t, do(t, http.MethodPost, nil, strings.NewReader(sql), nil))
	decoders := map[string]func(io.Reader) (io.Reader, error){
		"gzip": func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
		"zstd": func(r io.Reader) (io.Reader, error) { return zstd.NewReader(r) },
		"deflate": func(r io.Reader) (io.Reader, error) {
			return zlib.NewReader(r)
		},
		"lz4": func(r io.Reader) (io.Reader, error) { return lz4.NewReader(r), nil },
	}
	for enc, dec := range decoders {
		t.Run(enc, func(t *testing.T) {
			// Without enable_http_compression=1 the answer stays plain.
			res := do(t, http.MethodPost, nil, strings.NewReader(sql), http.Header{"Accept-Encoding": {enc}})
			if res.header.Get("Content-Encoding") != "" || res.body != plain {
				t.Fatalf("compressed without enable_http_compression")
			}
			res = do(t, http.MethodPost, q("enable_http_compression", "1"), strings.NewReader(sql), http.Header{"Accept-Encoding": {enc}})
			if res.header.Get("Content-Encoding") != enc {
				t.Fatalf("Content-Encoding %q, want %s", res.header.Get("Content-Encoding"), enc)
			}
			r, err := dec(strings.NewReader(res.body))
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			if err != nil || string(b) != plain {
				t.Fatalf("decoded %d bytes, err %v", len(b), err)
			}
		})
	}
}

// metricValue reads a counter of the shared endpoint's registry.
func metricValue(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := chtest.Registry(t).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestHTTPBodyLimit(t *testing.T) {
	t.Parallel()
	h, err := chhttp.New(chtest.Engine(t), chhttp.Options{MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	db := database(t, "body_limit")
	mustOK(t, do(t, http.MethodPost, q("database", db), strings.NewReader("CREATE TABLE t (id UInt32, name String, v Float64) ENGINE = MergeTree ORDER BY id"), nil))

	post := func(body []byte, enc string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/?"+q("database", db, "query", "INSERT INTO t FORMAT CSV").Encode(), bytes.NewReader(body))
		if enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	big := bytes.Repeat([]byte("1,a,1\n"), 1<<20) // 6 MiB
	for _, tc := range []struct {
		name string
		body []byte
		enc  string
	}{
		{"plain", big, ""},
		{"gzip bomb", gz(big), "gzip"},
	} {
		res := post(tc.body, tc.enc)
		if res.StatusCode != http.StatusRequestEntityTooLarge || res.Header.Get("X-ClickHouse-Exception-Code") != "307" {
			t.Fatalf("%s: status %d code %q, want 413 / 307", tc.name, res.StatusCode, res.Header.Get("X-ClickHouse-Exception-Code"))
		}
	}
	if res := post([]byte("1,a,1\n"), ""); res.StatusCode != http.StatusOK {
		t.Fatalf("small body: status %d", res.StatusCode)
	}
}
