package eventtrack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

// LoadKnownEvents reads a known_events YAML list (GitLab's format: name,
// category, redis_slot, aggregation, expiry) into r.
func LoadKnownEvents(r *Registry, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read known events: %w", err)
	}
	var evs []Event
	if err := yaml.Unmarshal(b, &evs); err != nil {
		return fmt.Errorf("parse known events %s: %w", path, err)
	}
	for _, e := range evs {
		if e.Name == "" {
			return fmt.Errorf("known events %s: entry without name", path)
		}
		if e.Aggregation != "" && e.Aggregation != Weekly && e.Aggregation != Daily {
			return fmt.Errorf("known events %s: %s: aggregation %q", path, e.Name, e.Aggregation)
		}
		r.Add(e)
	}
	return nil
}

// DimensionOf maps an internal event's unique property to its key dimension.
func DimensionOf(unique string) string {
	switch unique {
	case "", "user.id":
		return "user"
	case "project.id":
		return "project"
	case "namespace.id":
		return "namespace"
	}
	return unique
}

// Handler serves GitLab's tracking endpoints for instance code:
//
//	POST /usage_data/increment_counter      {"event": "name", "value"?: n}
//	POST /usage_data/increment_unique_users {"event": "name", "user_id": n, "project_id"?: n, "namespace_id"?: n}
//
// 200 when tracked (or when the event's usage_data_<event> feature flag is
// off: nothing is recorded), 404 with usage_data_api off, 400 for a missing
// or unknown event or missing user, 503 when Redis fails. Errors are
// {"error": code, "message": text}. Callers
// authenticate with the API token, as GitLab's callers do with a personal
// access token (requireToken): 401 {"message":"401 Unauthorized"} without it.
type Handler struct {
	tracker *Tracker
	token   string
	log     *slog.Logger
	tracked *prometheus.CounterVec
}

// NewHandler registers the handler's metrics on reg. token is what callers
// must present (empty: no authentication).
func NewHandler(t *Tracker, token string, log *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	h := &Handler{tracker: t, token: token, log: log, tracked: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "collector", Name: "events_tracked_total",
		Help: "Usage events received on the tracking endpoints, by endpoint and result.",
	}, []string{"endpoint", "result"})}
	if reg != nil {
		if err := reg.Register(h.tracked); err != nil {
			return nil, fmt.Errorf("register event metrics: %w", err)
		}
	}
	return h, nil
}

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /usage_data/increment_counter", requireToken(h.token, h.incrementCounter))
	mux.HandleFunc("POST /usage_data/increment_unique_users", requireToken(h.token, h.incrementUnique))
}

type trackRequest struct {
	Event       string      `json:"event"`
	Value       *int64      `json:"value"`
	UserID      json.Number `json:"user_id"`
	ProjectID   json.Number `json:"project_id"`
	NamespaceID json.Number `json:"namespace_id"`
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": msg})
}

func (h *Handler) decode(w http.ResponseWriter, r *http.Request, endpoint string) (trackRequest, bool) {
	var req trackRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		h.tracked.WithLabelValues(endpoint, "bad_request").Inc()
		writeErr(w, http.StatusBadRequest, "bad_request", "body must be a JSON object")
		return req, false
	}
	if req.Event == "" {
		h.tracked.WithLabelValues(endpoint, "bad_request").Inc()
		writeErr(w, http.StatusBadRequest, "missing_event", "event is required")
		return req, false
	}
	allowed, err := h.tracker.APIAllowed(req.Event)
	switch {
	case err != nil:
		h.tracked.WithLabelValues(endpoint, "disabled").Inc()
		writeErr(w, http.StatusNotFound, "not_found", err.Error())
		return req, false
	case !allowed:
		h.tracked.WithLabelValues(endpoint, "disabled").Inc()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}\n")
		return req, false
	}
	return req, true
}

func (h *Handler) result(w http.ResponseWriter, endpoint string, err error) {
	switch {
	case err == nil:
		h.tracked.WithLabelValues(endpoint, "ok").Inc()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}\n")
	case errors.Is(err, ErrUnknownEvent):
		h.tracked.WithLabelValues(endpoint, "unknown_event").Inc()
		writeErr(w, http.StatusBadRequest, "unknown_event", err.Error())
	default:
		h.tracked.WithLabelValues(endpoint, "error").Inc()
		h.log.Warn("track event failed", "endpoint", endpoint, "err", err)
		writeErr(w, http.StatusServiceUnavailable, "unavailable", "event store unavailable")
	}
}

func (h *Handler) incrementCounter(w http.ResponseWriter, r *http.Request) {
	const ep = "increment_counter"
	req, ok := h.decode(w, r, ep)
	if !ok {
		return
	}
	by := int64(1)
	if req.Value != nil {
		by = *req.Value
	}
	h.result(w, ep, h.tracker.Increment(r.Context(), req.Event, by))
}

func (h *Handler) incrementUnique(w http.ResponseWriter, r *http.Request) {
	const ep = "increment_unique_users"
	req, ok := h.decode(w, r, ep)
	if !ok {
		return
	}
	if _, known := h.tracker.Registry.Get(req.Event); !known {
		h.result(w, ep, fmt.Errorf("%w: %s", ErrUnknownEvent, req.Event))
		return
	}
	if _, err := strconv.ParseInt(req.UserID.String(), 10, 64); err != nil {
		h.tracked.WithLabelValues(ep, "bad_request").Inc()
		writeErr(w, http.StatusBadRequest, "missing_user", "user_id must be an integer")
		return
	}
	err := h.tracker.TrackUnique(r.Context(), req.Event, "user", req.UserID.String())
	for dim, v := range map[string]json.Number{"project": req.ProjectID, "namespace": req.NamespaceID} {
		if err == nil && v != "" {
			err = h.tracker.TrackUnique(r.Context(), req.Event, dim, v.String())
		}
	}
	h.result(w, ep, err)
}
