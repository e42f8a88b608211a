package submit

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// versions is a fake of the Versions application following
// docs/gitlab-reference.md, "The Versions application contract": it
// records every request in order.
type versions struct {
	mu     sync.Mutex
	calls  []call
	usage  func(n int) (int, string) // status and body for the n-th /usage_data
	nUsage int
}

type call struct {
	path, contentType, accept string
	body                      map[string]any
}

func (v *versions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	v.mu.Lock()
	v.calls = append(v.calls, call{r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Accept"), body})
	n := 0
	if r.URL.Path == "/usage_data" {
		v.nUsage++
		n = v.nUsage
	}
	v.mu.Unlock()
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/usage_data":
		status, resp := v.usage(n)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, resp)
	case "/usage_ping_metadata", "/usage_ping_errors":
		w.WriteHeader(http.StatusCreated)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (v *versions) paths() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, c := range v.calls {
		out = append(out, c.path)
	}
	return out
}

// example reads one of GitLab's payload examples (testdata/gitlab/payload-examples).
func example(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../../../testdata/gitlab/payload-examples/" + name)
	if err != nil {
		t.Fatalf("payload example: %v", err)
	}
	return string(b)
}

func testPing() Ping {
	return Ping{
		Payload: json.RawMessage(`{"uuid":"u-1","hostname":"h","version":"17.0.0","recorded_at":"2025-06-15T12:00:00.000Z"}`),
		UUID:    "u-1", Hostname: "h", Version: "17.0.0",
		Metrics: []Timing{{Name: "counts.issues", TimeElapsed: 0.5}, {Name: "counts.bad", TimeElapsed: 0.1, Error: "boom"}},
		Started: time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC),
	}
}

func newSubmitter(t *testing.T, url string) *Submitter {
	s, err := New(Config{BaseURL: url, Attempts: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Now: func() time.Time { return time.Date(2025, 6, 15, 12, 0, 1, 260_000_000, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	t.Parallel()
	convIndex := example(t, "spec_versions_app_response_conv_index.json")
	firstPing := example(t, "spec_versions_app_response_first_ping.json")
	cases := []struct {
		name      string
		usage     func(n int) (int, string)
		wantErr   string
		wantID    int64
		wantPaths []string
		wantKeys  int // keys in conv_index
	}{
		{"201 with conv_index", func(int) (int, string) { return 201, convIndex }, "", 0, []string{"/usage_data", "/usage_ping_metadata"}, 0},
		{"first ping: only usage_data_id", func(int) (int, string) { return 201, firstPing }, "", 31643, []string{"/usage_data", "/usage_ping_metadata"}, 1},
		{"legacy dev_ops_score", func(int) (int, string) { return 200, `{"dev_ops_score":{"usage_data_id":7}}` }, "", 7, []string{"/usage_data", "/usage_ping_metadata"}, 1},
		{"missing usage_data_id", func(int) (int, string) { return 201, `{"conv_index":{}}` }, "Invalid usage_data_id", 0, []string{"/usage_data", "/usage_ping_errors"}, 0},
		{"zero usage_data_id", func(int) (int, string) { return 201, `{"conv_index":{"usage_data_id":0}}` }, "Invalid usage_data_id", 0, []string{"/usage_data", "/usage_ping_errors"}, 0},
		{"non-JSON 201", func(int) (int, string) { return 201, `ok` }, "Invalid usage_data_id", 0, []string{"/usage_data", "/usage_ping_errors"}, 0},
		{"5xx retried then error report", func(int) (int, string) { return 503, `{"error":"unavailable"}` }, "Unsuccessful response code: 503", 0,
			[]string{"/usage_data", "/usage_data", "/usage_data", "/usage_ping_errors"}, 0},
		{"5xx then success", func(n int) (int, string) {
			if n < 3 {
				return 502, ""
			}
			return 201, firstPing
		}, "", 31643, []string{"/usage_data", "/usage_data", "/usage_data", "/usage_ping_metadata"}, 1},
		{"4xx not retried", func(int) (int, string) { return 400, `{"error":"invalid_json"}` }, "Unsuccessful response code: 400", 0, []string{"/usage_data", "/usage_ping_errors"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := &versions{usage: tc.usage}
			srv := httptest.NewServer(v)
			defer srv.Close()
			res, err := newSubmitter(t, srv.URL).Submit(context.Background(), testPing())
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if got := v.paths(); strings.Join(got, ",") != strings.Join(tc.wantPaths, ",") {
				t.Fatalf("requests %v, want %v", got, tc.wantPaths)
			}
			if tc.wantID != 0 && res.UsageDataID != tc.wantID {
				t.Fatalf("usage_data_id %d want %d", res.UsageDataID, tc.wantID)
			}
			if tc.wantKeys != 0 && len(res.ConvIndex) != tc.wantKeys {
				t.Fatalf("conv_index %v", res.ConvIndex)
			}
			for _, c := range v.calls {
				if c.contentType != "application/json" || c.accept != "application/json" {
					t.Errorf("%s: headers %q %q", c.path, c.contentType, c.accept)
				}
				switch c.path {
				case "/usage_data":
					if c.body["uuid"] != "u-1" {
						t.Errorf("payload body %v", c.body)
					}
				case "/usage_ping_metadata":
					md, _ := c.body["metadata"].(map[string]any)
					ms, _ := md["metrics"].([]any)
					if md["uuid"] != "u-1" || len(ms) != 2 {
						t.Errorf("metadata body %v", c.body)
					}
					if m1, _ := ms[1].(map[string]any); m1["error"] != "boom" || m1["name"] != "counts.bad" {
						t.Errorf("metadata metric %v", ms[1])
					}
				case "/usage_ping_errors":
					e, _ := c.body["error"].(map[string]any)
					for _, k := range []string{"time", "uuid", "hostname", "version", "message", "elapsed"} {
						if _, ok := e[k]; !ok {
							t.Errorf("error report lacks %s: %v", k, c.body)
						}
					}
					if e["elapsed"] != 1.3 || e["uuid"] != "u-1" || !strings.Contains(e["message"].(string), tc.wantErr) {
						t.Errorf("error report %v", e)
					}
				}
			}
		})
	}
}

func TestConvIndexValues(t *testing.T) {
	t.Parallel()
	v := &versions{usage: func(int) (int, string) { return 201, example(t, "spec_versions_app_response_conv_index.json") }}
	srv := httptest.NewServer(v)
	defer srv.Close()
	res, err := newSubmitter(t, srv.URL).Submit(context.Background(), testPing())
	if err != nil {
		t.Fatal(err)
	}
	if res.UsageDataID <= 0 || res.ConvIndex["percentage_issues"] == nil {
		t.Fatalf("result %+v", res)
	}
}

func TestNetworkErrorReported(t *testing.T) {
	t.Parallel()
	v := &versions{usage: func(int) (int, string) { return 201, `{"conv_index":{"usage_data_id":1}}` }}
	errSrv := httptest.NewServer(v)
	defer errSrv.Close()
	// A server that drops /usage_data connections but records error reports.
	mux := http.NewServeMux()
	mux.HandleFunc("/usage_data", func(w http.ResponseWriter, r *http.Request) {
		hj, _ := w.(http.Hijacker)
		c, _, _ := hj.Hijack()
		c.Close()
	})
	mux.Handle("/", v)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	_, err := newSubmitter(t, srv.URL).Submit(context.Background(), testPing())
	if err == nil {
		t.Fatal("want error")
	}
	if got := v.paths(); len(got) != 1 || got[0] != "/usage_ping_errors" {
		t.Fatalf("requests %v", got)
	}
}
