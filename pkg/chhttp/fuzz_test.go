package chhttp

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"
)

// FuzzStatement feeds the endpoint's statement scanning — what it decides
// about a request's SQL before the engine sees it — arbitrary text.
func FuzzStatement(f *testing.F) {
	for _, s := range []string{
		"INSERT INTO serviceping.pings (ping_id, uuid) FORMAT Native\n\x01\x02",
		"INSERT INTO t VALUES (1, 'a;b'), (2, 'c')",
		"INSERT INTO t SELECT * FROM s",
		"INSERT INTO t (a, b) SETTINGS async_insert = 1 FORMAT JSONEachRow {\"a\":1}",
		"SELECT displayName(), version(), revision(), timezone()",
		"WITH x AS (SELECT 1) SELECT * FROM x FORMAT JSON SETTINGS max_threads = 1",
		"SELECT key_path, count() FROM serviceping.ping_metrics_latest WHERE key_path LIKE 'counts.%' GROUP BY key_path",
		"(SELECT 1) UNION ALL (SELECT 2)",
		"SET max_threads = 3, date_time_input_format = 'best_effort', x = [1, (2, 3)]",
		"SET readonly = DEFAULT",
		"SELECT 1 SETTINGS readonly = /* c */ DEFAULT",
		"SELECT 1 SETTINGS profile = 'default'",
		"CREATE OR REPLACE TEMPORARY TABLE t (x UInt8) ENGINE = Memory",
		"SELECT 1; SELECT 2", "SELECT 1;;", "SELECT ';' -- ;\n", "SELECT $$;$$, $tag$ ; $tag$",
		"SELECT 'unterminated", "/* unterminated", "SELECT $open$", "SELECT `a``b`", "SELECT \"a\\\"b\"",
		"# comment\nSHOW TABLES", "DESCRIBE TABLE t", "EXISTS t", "USE other", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		st := scanStatement(text)
		switch st.kind {
		case kindSelect, kindInsert, kindDDL, kindOther:
		default:
			t.Fatalf("kind %q", st.kind)
		}
		if st.dataOffset < -1 || st.dataOffset > len(text) {
			t.Fatalf("data offset %d of %d bytes", st.dataOffset, len(text))
		}
		if st.kind == kindInsert && st.dataOffset >= 0 && (len(st.sql) > st.dataOffset || !bytes.HasPrefix(text, []byte(st.sql))) {
			t.Fatalf("insert %q does not begin the text before its data at %d", st.sql, st.dataOffset)
		}
		if at := multiStatementAt(text); at >= 0 && (at >= len(text) || text[at] != ';') {
			t.Fatalf("multi-statement at %d, not a semicolon", at)
		}
		if set, ok := parseSet(text); ok {
			if len(set) == 0 || verb(text) != "SET" {
				t.Fatalf("parseSet %v of a text whose verb is %q", set, verb(text))
			}
			for name, v := range set {
				if name == "" || strings.TrimSpace(v) == "" {
					t.Fatalf("setting %q = %q", name, v)
				}
			}
		}
		if escapesReadonly(text, false) && !escapesReadonly(text, true) {
			t.Fatal("resetting readonly is not resetting a setting")
		}
		_ = streams(text)
		_ = createsTemporary(text)
		_ = isHello(string(text))
		if w := words(text, 4); len(w) > 4 {
			t.Fatalf("words %v", w)
		}
	})
}

// FuzzRequest feeds the endpoint's reading of a request — its URL
// parameters, and the credentials in its headers — arbitrary values.
func FuzzRequest(f *testing.F) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("loader:w-secret"))
	for _, s := range [][4]string{
		{"query=SELECT+1&database=serviceping&default_format=JSONEachRow&max_threads=2&param_id=7", "", "", ""},
		{"session_id=s1&session_timeout=60&query_id=q&user=loader&password=w-secret", "", "", ""},
		{"compress=1&decompress=1&client_protocol_version=54460", basic, "", ""},
		{"", "", "analyst", "r-secret"},
		{"user=a&password=b", basic, "", ""},
		{"%zz&=&a=1&a=2&param_=x", "Bearer token", "x", ""},
		{"", "Basic !!!", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	users := []User{{Name: "loader", Password: "w-secret"}, {Name: "analyst", Password: "r-secret", ReadOnly: true}}
	h := &Handler{opts: Options{Users: users}}
	f.Fuzz(func(t *testing.T, rawQuery, authorization, user, key string) {
		r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/", RawQuery: rawQuery}, Header: http.Header{}}
		for k, v := range map[string]string{"Authorization": authorization, "X-ClickHouse-User": user, "X-ClickHouse-Key": key} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		req := h.parse(r)
		if req.queryID == "" || req.format == "" {
			t.Fatalf("query id %q, format %q", req.queryID, req.format)
		}
		for k := range req.settings {
			if isTransportParam(k) || strings.HasPrefix(k, "param_") {
				t.Fatalf("%q taken for a setting", k)
			}
		}
		name, password, err := credentials(r)
		if err == nil && name == "" {
			t.Fatal("credentials without a user name")
		}
		if err := h.authenticate(req, r); err == nil {
			if req.user != name {
				t.Fatalf("authenticated as %q, credentials name %q", req.user, name)
			}
			matched := false
			for _, u := range users {
				if u.Name == name && u.Password == password {
					matched = true
					if u.ReadOnly != (req.readonly == readOnly) {
						t.Fatalf("%s authenticated with readonly %d", name, req.readonly)
					}
				}
			}
			if !matched {
				t.Fatalf("authenticated %q with a password no user has", name)
			}
		}
	})
}

// TestScanLinear: scanning a request's text costs its length, however many
// comments, heredocs or unclosed heredoc tags it holds (FuzzStatement
// stalled on such texts: each one copied or searched the rest of the text).
func TestScanLinear(t *testing.T) {
	const size = 1 << 20 // MaxQueryBytes' default
	var unclosed strings.Builder
	for i := 0; unclosed.Len() < size; i++ {
		fmt.Fprintf(&unclosed, "$t%d$ ", i)
	}
	for name, text := range map[string][]byte{
		"comments":        bytes.Repeat([]byte("/**/"), size/4),
		"heredocs":        bytes.Repeat([]byte("$$x$$"), size/5),
		"unclosed tags":   []byte(unclosed.String()),
		"tags in strings": bytes.Repeat([]byte("'$a$'"), size/5),
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		scanStatement(text)
		multiStatementAt(text)
		escapesReadonly(text, true)
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size {
			t.Errorf("%s: scanning %d bytes allocated %d", name, len(text), alloc)
		}
		if elapsed > 5*time.Second {
			t.Errorf("%s: scanning %d bytes took %v", name, len(text), elapsed)
		}
	}
}

// FuzzBody feeds the request body's decoding — Content-Encoding and, with
// decompress=1, ClickHouse's compressed blocks — arbitrary bytes.
func FuzzBody(f *testing.F) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("1\ta\n2\tb\n"))
	_ = zw.Close()
	f.Add(gz.Bytes(), "gzip", false)
	for _, method := range []string{"lz4", "zstd", "none"} {
		framed, err := encodeCHFramed([]byte("INSERT INTO t FORMAT TSV\n1\ta\n"), method)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(framed, "", true)
	}
	f.Add([]byte("SELECT 1"), "identity", false)
	f.Add([]byte{0x78, 0x9c, 0x03, 0x00}, "deflate", false)
	f.Add([]byte{}, "br", false)
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}, "zstd", false)
	f.Add([]byte{0x04, 0x22, 0x4d, 0x18}, "lz4, gzip", false)
	f.Fuzz(func(t *testing.T, data []byte, encoding string, framed bool) {
		r, done, err := decodeBody(bytes.NewReader(data), encoding, framed)
		if err != nil {
			return
		}
		defer done()
		_, _ = io.Copy(io.Discard, io.LimitReader(r, 4<<20))
	})
}

// FuzzMultipart feeds the reading of a multipart/form-data request — its
// fields, its files as external tables and their descriptions — arbitrary
// bodies.
func FuzzMultipart(f *testing.F) {
	const b = "XyZ"
	part := func(disposition, value string) string {
		return "--" + b + "\r\nContent-Disposition: form-data; " + disposition + "\r\n\r\n" + value + "\r\n"
	}
	f.Add(part(`name="query"`, "SELECT * FROM ext")+part(`name="ext_structure"`, "x UInt32, s String")+
		part(`name="ext"; filename="ext.tsv"`, "1\ta\n")+"--"+b+"--\r\n", "")
	f.Add(part(`name="names_types"`, "Decimal(9, 2),String,Enum8('a,b' = 1)")+part(`name="names"; filename=""`, "1.5\tx\n")+"--"+b+"--\r\n", "names_format=CSV")
	f.Add(part(`name="x_structure"`, "a Int8")+"--"+b+"--\r\n", "")
	f.Add("--"+b+"\r\nContent-Disposition: form-data\r\n\r\nx\r\n--"+b+"--\r\n", "param_a=1")
	h := &Handler{opts: Options{MaxQueryBytes: 1 << 16, TempDir: f.TempDir()}}
	info := &serverInfo{settings: map[string]bool{"max_threads": true}}
	f.Fuzz(func(t *testing.T, body, rawQuery string) {
		r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/", RawQuery: rawQuery}, Header: http.Header{}}
		req := h.parse(r)
		defer req.closeExternal()
		if err := h.readMultipart(req, strings.NewReader(body), b); err != nil {
			return
		}
		if err := req.describeExternal(info); err != nil {
			return
		}
		for _, tbl := range req.tables {
			if tbl.name == "" || strings.TrimSpace(tbl.structure) == "" || tbl.format == "" {
				t.Fatalf("external table %+v", tbl)
			}
			if _, ok := req.settings[tbl.name+"_structure"]; ok {
				t.Fatalf("%s_structure left among the settings", tbl.name)
			}
		}
	})
}
