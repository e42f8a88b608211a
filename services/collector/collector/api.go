package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"

	"go.yaml.in/yaml/v3"

	"github.com/serviceping/serviceping/services/collector/internal/eventtrack"
	"github.com/serviceping/serviceping/services/collector/internal/instrument"
)

// The instance API GitLab offers next to the ping (lib/api/usage_data*.rb),
// served by `collector run` on its listener:
//
//	GET /api/v4/usage_data/service_ping        the last payload (built now when none is stored)
//	GET /api/v4/usage_data/metric_definitions  every loaded definition file, one YAML list
//	GET /api/v4/usage_data/queries             the payload with each database metric's SQL as its value
//	GET /api/v4/usage_data/non_sql_metrics     the payload with -3 for each database metric
//	POST /api/v4/usage_data/track_event        record an internal event (event, user_id, project_id,
//	                                           namespace_id, additional_properties{label, property, value, …})
//
// Everything but metric_definitions (public on GitLab too) takes the API
// token (COLLECTOR_API_TOKEN) in PRIVATE-TOKEN or Authorization: Bearer; 401
// without it. With no token configured the API is not served: the payload
// is not for anyone who can reach the port.
const apiPrefix = "/api/v4/usage_data/"

func (c *Collector) registerAPI(mux *http.ServeMux) {
	mux.HandleFunc("GET "+apiPrefix+"metric_definitions", c.serveDefinitions)
	if c.cfg.APIToken == "" {
		return
	}
	auth := func(h http.HandlerFunc) http.HandlerFunc { return eventtrack.RequireToken(c.cfg.APIToken, h) }
	mux.HandleFunc("GET "+apiPrefix+"service_ping", auth(c.serveServicePing))
	mux.HandleFunc("GET "+apiPrefix+"queries", auth(c.serveVariant(instrument.ModeQueries)))
	mux.HandleFunc("GET "+apiPrefix+"non_sql_metrics", auth(c.serveVariant(instrument.ModeNonSQL)))
	if c.tracker != nil {
		mux.HandleFunc("POST "+apiPrefix+"track_event", auth(c.serveTrackEvent))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func (c *Collector) lastPayloadPath() string {
	return filepath.Join(c.cfg.DataDir, "last_payload.json")
}

// storeLastPayload keeps the payload a build produced for the API.
func (c *Collector) storeLastPayload(res *Payload) error {
	b, err := res.JSON()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.cfg.DataDir, 0o755); err != nil {
		return err
	}
	tmp := c.lastPayloadPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, c.lastPayloadPath())
}

// serveServicePing answers the last payload the collector built, building
// one when there is none yet (as GitLab computes it when its cache is
// empty).
func (c *Collector) serveServicePing(w http.ResponseWriter, r *http.Request) {
	b, err := os.ReadFile(c.lastPayloadPath())
	if errors.Is(err, fs.ErrNotExist) {
		res, berr := c.Build(r.Context())
		if berr != nil {
			c.log.Warn("instance api: build payload", "err", berr)
			apiError(w, http.StatusServiceUnavailable, "payload not available")
			return
		}
		b, err = res.JSON()
	}
	if err != nil {
		c.log.Warn("instance api: read last payload", "err", err)
		apiError(w, http.StatusInternalServerError, "payload not available")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// serveVariant builds the payload in a mode (queries, non-SQL) and
// answers it; these builds are not stored or sent.
func (c *Collector) serveVariant(mode string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res, err := c.BuildMode(r.Context(), mode)
		if err != nil {
			c.log.Warn("instance api: build payload", "mode", mode, "err", err)
			apiError(w, http.StatusServiceUnavailable, "payload not available")
			return
		}
		writeJSON(w, http.StatusOK, res.Payload)
	}
}

// BuildMode computes the payload in a mode: instrument.ModeQueries gives
// each database metric's SQL, instrument.ModeNonSQL -3 in its place.
func (c *Collector) BuildMode(ctx context.Context, mode string) (*Payload, error) {
	if !c.cfg.Enabled {
		return nil, ErrDisabled
	}
	b := *c.builder
	b.Mode = mode
	return b.Build(ctx, c.set)
}

// serveDefinitions answers every loaded definition file as one YAML list
// (GitLab's dump_metrics_yaml), in file order.
func (c *Collector) serveDefinitions(w http.ResponseWriter, _ *http.Request) {
	files := map[string]bool{}
	for _, m := range c.set.Metrics {
		files[m.File] = true
	}
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	docs := make([]any, 0, len(names))
	for _, f := range names {
		b, err := os.ReadFile(filepath.Join(c.cfg.DefinitionsDir, f))
		if err != nil {
			c.log.Warn("instance api: read definition", "file", f, "err", err)
			apiError(w, http.StatusInternalServerError, "definitions not available")
			return
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			c.log.Warn("instance api: parse definition", "file", f, "err", err)
			apiError(w, http.StatusInternalServerError, "definitions not available")
			return
		}
		docs = append(docs, doc)
	}
	out, err := yaml.Marshal(docs)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "definitions not available")
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(out)
}

type trackEventRequest struct {
	Event                string         `json:"event"`
	UserID               json.Number    `json:"user_id"`
	ProjectID            json.Number    `json:"project_id"`
	NamespaceID          json.Number    `json:"namespace_id"`
	AdditionalProperties map[string]any `json:"additional_properties"`
}

// serveTrackEvent records an internal event the way GitLab's
// POST /usage_data/track_event does: 200 {} when tracked, 400 for a
// missing or unknown event, 503 when Redis fails.
func (c *Collector) serveTrackEvent(w http.ResponseWriter, r *http.Request) {
	var req trackEventRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil || req.Event == "" {
		apiError(w, http.StatusBadRequest, "event is required")
		return
	}
	switch allowed, err := c.tracker.APIAllowed(req.Event); {
	case err != nil:
		apiError(w, http.StatusNotFound, err.Error())
		return
	case !allowed:
		writeJSON(w, http.StatusOK, map[string]any{}) // usage_data_<event> off: nothing recorded
		return
	}
	props := map[string]any{}
	for k, v := range req.AdditionalProperties {
		if n, ok := v.(json.Number); ok {
			v = n.String()
		}
		props[k] = v
	}
	err := c.tracker.Track(r.Context(), eventtrack.Occurrence{Event: req.Event, UserID: req.UserID.String(),
		ProjectID: req.ProjectID.String(), NamespaceID: req.NamespaceID.String(), Properties: props})
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]any{})
	case errors.Is(err, eventtrack.ErrUnknownEvent):
		apiError(w, http.StatusBadRequest, fmt.Sprintf("unknown event %q", req.Event))
	case errors.Is(err, eventtrack.ErrBadValue):
		apiError(w, http.StatusBadRequest, err.Error())
	default:
		c.log.Warn("instance api: track event", "event", req.Event, "err", err)
		apiError(w, http.StatusServiceUnavailable, "event store unavailable")
	}
}
