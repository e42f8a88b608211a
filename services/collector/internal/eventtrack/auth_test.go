package eventtrack

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestHTTPToken: with a token, the tracking endpoints answer only callers
// presenting it as GitLab's API takes a personal access token
// (PRIVATE-TOKEN or Authorization: Bearer); others get GitLab's 401 and
// track nothing.
func TestHTTPToken(t *testing.T) {
	t.Parallel()
	tr := newTracker(t)
	const token = "glpat-tracking-7c1e"
	srv := serveTracking(t, tr, token)
	post := func(path, query string, header http.Header, body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path+query, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	for _, path := range []string{"/usage_data/increment_counter", "/usage_data/increment_unique_users"} {
		body := `{"event":"pushes"}`
		if strings.HasSuffix(path, "unique_users") {
			body = `{"event":"users_creating_epics","user_id":7}`
		}
		for name, c := range map[string]struct {
			query  string
			header http.Header
		}{
			"no token":            {"", hdr()},
			"wrong PRIVATE-TOKEN": {"", hdr("PRIVATE-TOKEN", "glpat-nope")},
			"wrong bearer":        {"", hdr("Authorization", "Bearer glpat-nope")},
			"token as basic auth": {"", hdr("Authorization", "Basic "+token)},
			"token in the URL":    {"?private_token=" + token, hdr()},
			"empty bearer":        {"", hdr("Authorization", "Bearer ")},
			"token with a suffix": {"", hdr("PRIVATE-TOKEN", token+"x")},
			"token's prefix":      {"", hdr("PRIVATE-TOKEN", token[:len(token)-1])},
		} {
			code, got := post(path, c.query, c.header, body)
			if code != http.StatusUnauthorized || strings.TrimSpace(got) != `{"message":"401 Unauthorized"}` {
				t.Errorf("%s %s: %d %s, want 401", path, name, code, got)
			}
		}
		for name, header := range map[string]http.Header{
			"PRIVATE-TOKEN": hdr("PRIVATE-TOKEN", token),
			"bearer":        hdr("Authorization", "Bearer "+token),
		} {
			if code, got := post(path, "", header, body); code != http.StatusOK {
				t.Errorf("%s with %s: %d %s, want 200", path, name, code, got)
			}
		}
	}
	ctx := context.Background()
	if v, _ := tr.Counter(ctx, "USAGE_SOURCE_CODE_PUSHES"); v != 2 {
		t.Errorf("counter = %d, want 2 (the authenticated requests only)", v)
	}
}

// serveTracking serves tr's tracking endpoints, taking token, until the
// test ends.
func serveTracking(t *testing.T, tr *Tracker, token string) *httptest.Server {
	t.Helper()
	h, err := NewHandler(tr, token, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
