package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Page is one page of the dashboard.
type Page struct {
	// Path is the page's URL path; Name its title.
	Path, Name string
	// About says what the page shows (on the root page and under the title).
	About string
	// Charts are the ids of the page's charts (dashboard.js draws them).
	Charts []string
	// API is the JSON endpoint the page reads.
	API string
}

// Pages are the dashboard's pages, in the order the root page lists them.
func Pages() []Page {
	return []Page{
		{Path: "/adoption", Name: "Adoption", API: "/api/adoption",
			About:  "Installations reporting and their active users per ISO week, pings per week, versions and editions.",
			Charts: []string{"instances", "pings", "active-users", "versions", "editions"}},
		{Path: "/stages", Name: "Stage adoption", API: "/api/stages",
			About:  "xMAU per month: monthly active users of every SMAU, GMAU, paid GMAU and UMAU metric, recorded and estimated for the installations that did not report.",
			Charts: []string{"xmau-latest", "xmau-months"}},
		{Path: "/devops-score", Name: "DevOps Score", API: "/api/devops-score",
			About:  "The latest month's DevOps Scores: their distribution, the leading instances and one instance's ten features against the leaders'.",
			Charts: []string{"distribution", "leaders", "features"}},
		{Path: "/licenses", Name: "License utilization", API: "/api/licenses",
			About:  "Seats used per subscription: active users of its installations against the license's seats.",
			Charts: []string{"utilization", "seats"}},
		{Path: "/health", Name: "Pipeline health", API: "/api/health",
			About:  "Pings received, requests rejected by reason, dead letters, metric fallback rates per version and the ping→queryable lag.",
			Charts: []string{"received", "rejected", "dead-letters", "fallbacks", "lag"}},
	}
}

// view is what the templates render.
type view struct {
	Title   string
	Page    *Page
	Pages   []Page
	Assets  bool
	Missing string
	Target  string
}

func (d *Dashboard) view(p *Page) view {
	title := "serviceping dashboard"
	if p != nil {
		title = p.Name + " · " + title
	}
	return view{Title: title, Page: p, Pages: Pages(), Assets: d.assets, Missing: MartsMissing, Target: AssetsTarget}
}

func (d *Dashboard) index(w http.ResponseWriter, r *http.Request) {
	d.render(w, "index.html", d.view(nil))
}

func (d *Dashboard) page(p Page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { d.render(w, "page.html", d.view(&p)) }
}

func (d *Dashboard) render(w http.ResponseWriter, name string, v view) {
	var buf bytes.Buffer
	if err := d.pages.ExecuteTemplate(&buf, name, v); err != nil {
		d.log.Error("render dashboard page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// errMartsMissing is returned by a query when a mart it reads is not built.
var errMartsMissing = errors.New(MartsMissing)

// httpError is an error the client caused (HTTP 4xx).
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// api serves what get returns as JSON: 503 while the marts are missing, the
// status of an httpError, 500 (logged, not shown) for anything else.
func (d *Dashboard) api(get func(ctx context.Context, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		v, err := get(ctx, r)
		var he *httpError
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, v)
		case errors.Is(err, errMartsMissing):
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: MartsMissing, Code: "marts_missing"})
		case errors.As(err, &he):
			writeJSON(w, he.status, apiError{Error: he.msg, Code: "bad_request"})
		default:
			d.log.Error("dashboard query failed", "path", r.URL.Path, "err", err)
			writeJSON(w, http.StatusInternalServerError, apiError{Error: "the warehouse query failed; see the log", Code: "query_failed"})
		}
	}
}

// apiError is the body of every failed endpoint.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode the answer","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
