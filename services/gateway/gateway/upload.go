package gateway

import (
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strings"
)

// The manual-upload flow of version.gitlab.com/usage_data/new: an admin
// downloads the payload from the instance and uploads the file here.

var pages = template.Must(template.New("layout").Parse(`{{define "head"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · serviceping</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
code{background:#f4f4f4;padding:.1rem .3rem}.error{color:#a00}</style></head><body>{{end}}
{{define "new"}}{{template "head" .}}
<h1>Upload a Service Ping payload</h1>
<p>Download the payload from your GitLab instance (Admin → Settings → Metrics and profiling →
Usage statistics → Download payload), then upload the JSON file (or its gzip) here.</p>
<form action="/usage_data/upload" method="post" enctype="multipart/form-data">
<p><label for="file">Choose file</label> <input type="file" id="file" name="file" accept=".json,.gz,application/json,application/gzip" required></p>
<p><button type="submit">Upload</button></p>
</form></body></html>{{end}}
{{define "created"}}{{template "head" .}}
<h1>Payload received</h1>
<p>The Service Ping was stored. Usage data id: <code id="usage_data_id">{{.UsageDataID}}</code></p>
<p><a href="/usage_data/new">Upload another</a></p></body></html>{{end}}
{{define "error"}}{{template "head" .}}
<h1>Upload failed</h1>
<p class="error">{{.Message}} (<code>{{.Code}}</code>, HTTP {{.Status}})</p>
<p><a href="/usage_data/new">Try again</a></p></body></html>{{end}}
`))

type page struct {
	Title       string
	UsageDataID int64
	Status      int
	Code        string
	Message     string
}

func renderHTML(w http.ResponseWriter, status int, name string, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name, p)
}

// uploadForm is GET /usage_data/new.
func (g *Gateway) uploadForm(w http.ResponseWriter, _ *http.Request) {
	renderHTML(w, http.StatusOK, "new", page{Title: "Upload"})
}

func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return true
		}
	}
	return false
}

// upload is POST /usage_data/upload: a multipart form with the file in "file".
func (g *Gateway) upload(w http.ResponseWriter, r *http.Request) {
	fail := func(e *apiError) {
		if wantsJSON(r) {
			g.fail(w, r, e)
			return
		}
		g.m.rejections.WithLabelValues(e.code).Inc()
		if e.retryAfter > 0 {
			g.setRetryAfter(w, e.retryAfter)
		}
		renderHTML(w, e.status, "error", page{Title: "Upload failed", Status: e.status, Code: e.code, Message: e.message})
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		fail(&apiError{status: http.StatusUnsupportedMediaType, code: codeUnsupportedMedia,
			message: "the upload must be a multipart/form-data form with the payload in the field \"file\""})
		return
	}
	info := g.requestInfo(r)
	release, apiErr := g.admit(r, info.sourceIP)
	if apiErr != nil {
		fail(apiErr)
		return
	}
	defer release()
	// The form adds a little around the file; the file itself is bounded below.
	const formOverhead = 64 << 10
	r.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes+formOverhead)
	b, apiErr := uploadedFile(r, g.cfg.MaxBodyBytes, g.cfg.MaxDecompressedBytes)
	if apiErr != nil {
		fail(apiErr)
		return
	}
	defer b.release()
	a, apiErr := g.acceptPing(r.Context(), b, info, "upload", "/usage_data/upload")
	if apiErr != nil {
		fail(apiErr)
		return
	}
	if wantsJSON(r) {
		writeJSONBytes(w, http.StatusCreated, a.convIndex())
		return
	}
	renderHTML(w, http.StatusCreated, "created", page{Title: "Payload received", UsageDataID: a.usageDataID})
}

// uploadedFile reads an upload form: the payload is the file in the field
// "file", as sent or gzipped (the gzip magic decides: a browser labels .gz
// files inconsistently), at most maxBody bytes as sent and maxDecoded
// decompressed. The request's body is the form, already bounded.
func uploadedFile(r *http.Request, maxBody, maxDecoded int64) (body, *apiError) {
	mr, err := r.MultipartReader()
	if err != nil {
		return body{}, &apiError{status: http.StatusBadRequest, code: codeMissingFile, message: "the multipart form could not be read"}
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return body{}, &apiError{status: http.StatusBadRequest, code: codeMissingFile, message: "the form has no file in the field \"file\""}
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return body{}, tooLarge("the upload", maxBody)
			}
			return body{}, &apiError{status: http.StatusBadRequest, code: codeMissingFile, message: "the multipart form is malformed"}
		}
		if part.FormName() != "file" {
			_ = part.Close()
			continue
		}
		raw, apiErr := readLimited(part, -1, maxBody, "the uploaded file")
		_ = part.Close()
		if apiErr != nil {
			return body{}, apiErr
		}
		return decode(raw, false, maxDecoded)
	}
}
