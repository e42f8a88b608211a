// Package gateway is the HTTP front door of serviceping: a drop-in for
// GitLab's Versions application (docs/contracts.md, "Gateway HTTP API").
// It validates Service Pings, error reports and metric timings strictly,
// publishes them to JetStream with their idempotency key as Nats-Msg-Id,
// and answers 201 only after JetStream acknowledged the write.
//
// A Gateway is a stage like the others: New(cfg, deps) over a JetStream
// handle the caller owns (the all-in-one shares its own), Run(ctx) serving
// on GATEWAY_LISTEN until ctx ends, Close. Handler is the API for those who
// serve it themselves; the package's Run is the standalone service.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/devopsscore"
	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/tracing"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/gateway/internal/validate"
)

// Deps are the parts the caller owns.
type Deps struct {
	// JS publishes; required.
	JS jetstream.JetStream
	// Conn is checked for readiness and to fail fast while disconnected;
	// defaults to JS.Conn().
	Conn *nats.Conn
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the gateway's metrics; a private registry when nil.
	Registerer prometheus.Registerer
	// Gatherer is served on /metrics; defaults to Registerer when it is a
	// Gatherer (a *prometheus.Registry is both).
	Gatherer prometheus.Gatherer
	// Tracer traces requests and carries their trace context to the
	// enricher (pkg/tracing); nil: no tracing.
	Tracer trace.TracerProvider
	// Now defaults to time.Now.
	Now func() time.Time
	// ScoreJS reads the DevOps Score state; defaults to JS. A connection of
	// its own keeps these small reads from queueing behind the large ping
	// publishes on JS's connection.
	ScoreJS jetstream.JetStream
}

// Gateway serves the HTTP API. It holds no connection of its own.
type Gateway struct {
	cfg      Config
	js       jetstream.JetStream
	nc       *nats.Conn
	log      *slog.Logger
	m        *metrics
	gatherer prometheus.Gatherer
	now      func() time.Time
	limits   validate.Limits
	slots    chan struct{}
	perUUID  *keyedLimiter
	perIP    *keyedLimiter
	handler  http.Handler
	scores   *scorer     // nil when the DevOps Score is off
	tls      *tls.Config // nil: plain HTTP
	tracer   trace.Tracer
	lastWarn atomic.Int64 // unix nanos of the last publish-failure log
}

// New validates cfg and builds the gateway; it does not dial anything.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	if deps.JS == nil {
		return nil, errors.New("gateway: a JetStream handle is required")
	}
	g := &Gateway{
		cfg: cfg, js: deps.JS, nc: deps.Conn, log: deps.Logger, now: deps.Now,
		limits:  validate.Limits{MaxDepth: cfg.MaxDepth, MaxLeaves: cfg.MaxLeaves},
		slots:   make(chan struct{}, cfg.MaxInflight),
		perUUID: newKeyedLimiter(cfg.RatePerUUID, cfg.BurstPerUUID, cfg.RateLimitKeys),
		perIP:   newKeyedLimiter(cfg.RatePerIP, cfg.BurstPerIP, cfg.RateLimitKeys),
		tracer:  tracing.OrNoop(deps.Tracer).Tracer("serviceping/gateway"),
	}
	var err error
	if g.tls, err = cfg.TLS(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	if g.nc == nil {
		g.nc = deps.JS.Conn()
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	reg, gat := deps.Registerer, deps.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg = r
		if gat == nil {
			gat = r
		}
	}
	if gat == nil {
		gat, _ = reg.(prometheus.Gatherer)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	g.m, g.gatherer = m, gat
	if cfg.DevOpsScore {
		g.scores = newScorer(deps, cfg, g.now, func(msg string, args ...any) { g.log.Warn(msg, args...) }, m.devopsReads)
	}
	if g.nc != nil && g.nc.IsConnected() && g.nc.MaxPayload() < cfg.MaxDecompressedBytes+64<<10 {
		g.log.Warn("nats max payload is below the decompressed body limit; bigger pings will get 413",
			"nats_max_payload", g.nc.MaxPayload(), "max_decompressed_bytes", cfg.MaxDecompressedBytes)
	}
	g.handler = g.routes()
	return g, nil
}

// Close stops the gateway's background work (the DevOps Score replica's
// watcher). The handler keeps answering, reading the bucket per ping.
func (g *Gateway) Close() {
	if g.scores != nil {
		g.scores.close()
	}
}

// Handler is the whole HTTP API, /metrics and the health probes included.
func (g *Gateway) Handler() http.Handler { return g.handler }

func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(route string, methods []string, h http.HandlerFunc) {
		mux.Handle(route, g.instrument(route, methods, h))
	}
	post := []string{http.MethodPost}
	get := []string{http.MethodGet, http.MethodHead}
	handle("/usage_data", post, g.usageData)
	handle("/usage_ping_errors", post, g.errorReport)
	handle("/usage_ping_metadata", post, g.metadata)
	handle("/usage_data/new", get, g.uploadForm)
	handle("/usage_data/upload", post, g.upload)
	handle("/healthz", get, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	handle("/readyz", get, g.readyz)
	if g.gatherer != nil {
		mh := promhttp.HandlerFor(g.gatherer, promhttp.HandlerOpts{})
		handle("/metrics", get, mh.ServeHTTP)
	}
	mux.Handle("/", g.instrument("other", nil, func(w http.ResponseWriter, r *http.Request) {
		g.fail(w, r, &apiError{status: http.StatusNotFound, code: codeNotFound, message: "no such route: " + truncate(r.URL.Path, 100)})
	}))
	return lifecycle.Profiles(mux, g.cfg.Profiling.PPROF)
}

// statusWriter remembers the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (g *Gateway) instrument(route string, methods []string, h http.HandlerFunc) http.Handler {
	dur := g.m.duration.WithLabelValues(route)
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, span := g.tracer.Start(r.Context(), r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		if methods != nil && !contains(methods, r.Method) {
			sw.Header().Set("Allow", allow)
			g.fail(sw, r, &apiError{status: http.StatusMethodNotAllowed, code: codeMethodNotAllowed,
				message: r.Method + " is not allowed here; use " + allow})
		} else {
			h(sw, r)
		}
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		g.m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		dur.Observe(time.Since(start).Seconds())
		span.SetAttributes(attribute.Int("http.response.status_code", sw.code))
		if sw.code >= http.StatusInternalServerError {
			span.SetStatus(codes.Error, http.StatusText(sw.code))
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// apiError is a response the client gets instead of a 201.
type apiError struct {
	status     int
	code       string
	message    string
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func fromPayload(err error) *apiError {
	var perr *validate.Error
	if errors.As(err, &perr) {
		return &apiError{status: http.StatusBadRequest, code: perr.Code, message: perr.Message}
	}
	return &apiError{status: http.StatusBadRequest, code: validate.CodeInvalidJSON, message: "the body is not valid"}
}

// fail writes the JSON error body and counts the rejection.
func (g *Gateway) fail(w http.ResponseWriter, _ *http.Request, e *apiError) {
	g.m.rejections.WithLabelValues(e.code).Inc()
	if e.retryAfter > 0 {
		g.setRetryAfter(w, e.retryAfter)
	}
	writeJSON(w, e.status, map[string]string{"error": e.code, "message": e.message})
}

// setRetryAfter writes d rounded up to whole seconds.
func (g *Gateway) setRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
}

// request is what the ingest path needs from an HTTP request.
type request struct {
	sourceIP  string
	userAgent string
}

func (g *Gateway) requestInfo(r *http.Request) request {
	return request{sourceIP: g.clientIP(r), userAgent: truncate(r.UserAgent(), 512)}
}

func (g *Gateway) clientIP(r *http.Request) string {
	if g.cfg.TrustForwardedFor {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// admit applies the per-IP limit and takes an ingest slot; the caller
// must call the returned release.
func (g *Gateway) admit(r *http.Request, ip string) (func(), *apiError) {
	if ok, wait := g.perIP.allow(ip, g.now()); !ok {
		return nil, &apiError{status: http.StatusTooManyRequests, code: codeRateLimited,
			message: "too many requests from this address", retryAfter: wait}
	}
	select {
	case g.slots <- struct{}{}:
	default:
		t := time.NewTimer(g.cfg.InflightWait)
		defer t.Stop()
		select {
		case g.slots <- struct{}{}:
		case <-t.C:
			return nil, &apiError{status: http.StatusServiceUnavailable, code: codeOverloaded,
				message: "the gateway is at capacity; retry later", retryAfter: g.cfg.RetryAfter}
		case <-r.Context().Done():
			return nil, &apiError{status: http.StatusServiceUnavailable, code: codeOverloaded,
				message: "the request was cancelled while queued", retryAfter: g.cfg.RetryAfter}
		}
	}
	g.m.inflight.Inc()
	return func() { g.m.inflight.Dec(); <-g.slots }, nil
}

// readJSONBody checks the media type and coding and reads the body within the limits.
func (g *Gateway) readJSONBody(w http.ResponseWriter, r *http.Request) (body, *apiError) {
	if !isJSONContentType(r.Header.Get("Content-Type")) {
		return body{}, &apiError{status: http.StatusUnsupportedMediaType, code: codeUnsupportedMedia,
			message: "Content-Type must be application/json"}
	}
	gz, apiErr := contentEncoding(r)
	if apiErr != nil {
		return body{}, apiErr
	}
	if r.ContentLength > g.cfg.MaxBodyBytes {
		return body{}, tooLarge("the request body", g.cfg.MaxBodyBytes)
	}
	raw, apiErr := readLimited(http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes), r.ContentLength, g.cfg.MaxBodyBytes, "the request body")
	if apiErr != nil {
		return body{}, apiErr
	}
	return decode(raw, gz, g.cfg.MaxDecompressedBytes)
}

// intake is the start of every JSON endpoint: admit the request (rate
// limits, in-flight slot), then read and decode its body. On failure it has
// answered the client and ok is false; otherwise done releases the slot and
// the body buffer.
func (g *Gateway) intake(w http.ResponseWriter, r *http.Request) (info request, b body, done func(), ok bool) {
	info = g.requestInfo(r)
	release, apiErr := g.admit(r, info.sourceIP)
	if apiErr != nil {
		g.fail(w, r, apiErr)
		return info, body{}, nil, false
	}
	b, apiErr = g.readJSONBody(w, r)
	if apiErr != nil {
		release()
		g.fail(w, r, apiErr)
		return info, body{}, nil, false
	}
	return info, b, func() { b.release(); release() }, true
}

// usageData is POST /usage_data.
func (g *Gateway) usageData(w http.ResponseWriter, r *http.Request) {
	info, b, done, ok := g.intake(w, r)
	if !ok {
		return
	}
	defer done()
	a, apiErr := g.acceptPing(r.Context(), b, info, "api", "/usage_data")
	if apiErr != nil {
		g.fail(w, r, apiErr)
		return
	}
	writeJSONBytes(w, http.StatusCreated, a.convIndex())
}

// accepted is the answer to an accepted ping.
type accepted struct {
	usageDataID int64
	score       *devopsscore.Score // nil: usage_data_id only
}

// convIndex is the 201 body: {"conv_index": {...}}.
func (a accepted) convIndex() []byte {
	b := make([]byte, 0, 1280)
	b = append(b, `{"conv_index":`...)
	b = devopsscore.AppendConvIndex(b, a.usageDataID, a.score)
	return append(b, '}')
}

// acceptPing validates, scores and publishes one ping.
func (g *Gateway) acceptPing(ctx context.Context, b body, info request, source, route string) (accepted, *apiError) {
	p, err := validate.DecodePing(b.data, g.limits)
	if err != nil {
		return accepted{}, fromPayload(err)
	}
	if ok, wait := g.perUUID.allow(p.UUID, g.now()); !ok {
		return accepted{}, &apiError{status: http.StatusTooManyRequests, code: codeRateLimited,
			message: "too many requests for this instance uuid", retryAfter: wait}
	}
	pingID := ping.ID(p.UUID, p.RecordedAt)
	usageID, err := ping.UsageDataID(pingID)
	if err != nil {
		g.log.Error("derive usage data id", "err", err)
		return accepted{}, &apiError{status: http.StatusInternalServerError, code: "internal", message: "internal error"}
	}
	a := accepted{usageDataID: usageID}
	msg := &servicepingv1.RawPing{
		PingId: pingID, UsageDataId: usageID, Uuid: p.UUID, RecordedAt: p.RecordedAt,
		ReceivedAt: timestamppb.New(g.now()), Payload: b.data, Source: source,
		SourceIp: info.sourceIP, UserAgent: info.userAgent,
	}
	var scoreOutcome string
	if g.scores != nil {
		snap := p.Score
		snap.PingID = pingID
		dec, ok := g.scores.decide(ctx, p.UUID, snap)
		a.score, scoreOutcome = dec.Score, outcome(dec, ok)
		// The enricher remembers the ping (with what it was answered) for
		// the instance's next ping and for a resubmission of this one.
		msg.Devops = devopsscore.EntryProto(snap, dec.Score)
	}
	if apiErr := g.publishPing(ctx, msg, b); apiErr != nil {
		return accepted{}, apiErr
	}
	g.m.payloadBytes.WithLabelValues(route, "wire").Observe(float64(b.wireLen))
	g.m.payloadBytes.WithLabelValues(route, "decoded").Observe(float64(len(b.data)))
	if scoreOutcome != "" {
		g.m.devopsScores.WithLabelValues(scoreOutcome).Inc()
	}
	return a, nil
}

// publishPing publishes msg, its envelope built around the payload in b's
// buffer when it fits there.
func (g *Gateway) publishPing(ctx context.Context, msg *servicepingv1.RawPing, b body) *apiError {
	data, ok, err := pingEnvelope(msg, b)
	if err == nil && !ok {
		var release func()
		data, release, err = encode(msg)
		defer release()
	}
	if err != nil {
		return g.marshalFailed(streams.SubjectRaw, err)
	}
	return g.publish(ctx, streams.SubjectRaw, streams.Pings, msg.PingId, data)
}

func (g *Gateway) marshalFailed(subject string, err error) *apiError {
	g.log.Error("marshal envelope", "subject", subject, "err", err)
	return &apiError{status: http.StatusInternalServerError, code: "internal", message: "internal error"}
}

// publish sends data with msgID as Nats-Msg-Id and waits for the PubAck.
func (g *Gateway) publish(ctx context.Context, subject, stream, msgID string, data []byte) *apiError {
	unavailable := func() *apiError {
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
			message: "the message stream is unavailable; retry later", retryAfter: g.cfg.RetryAfter}
	}
	if g.nc != nil && !g.nc.IsConnected() {
		g.warnPublish(subject, errors.New("nats is not connected"))
		return unavailable()
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.PublishTimeout)
	defer cancel()
	start := time.Now()
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	tracing.Inject(ctx, msg.Header)
	ack, err := g.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(stream))
	elapsed := time.Since(start).Seconds()
	if err != nil {
		g.m.publishDuration.WithLabelValues(subject, "error").Observe(elapsed)
		if errors.Is(err, nats.ErrMaxPayload) {
			return tooLarge("the message", g.nc.MaxPayload())
		}
		g.warnPublish(subject, err)
		return unavailable()
	}
	g.m.publishDuration.WithLabelValues(subject, "ok").Observe(elapsed)
	if ack.Duplicate {
		g.m.duplicates.WithLabelValues(subject).Inc()
	}
	return nil
}

// warnPublish logs publish failures at most every 10 s (an outage fails every request).
func (g *Gateway) warnPublish(subject string, err error) {
	now := time.Now().UnixNano()
	last := g.lastWarn.Load()
	if now-last < int64(10*time.Second) || !g.lastWarn.CompareAndSwap(last, now) {
		return
	}
	g.log.Warn("publish failed; answering 503", "subject", subject, "err", err)
}

// errorReport is POST /usage_ping_errors.
func (g *Gateway) errorReport(w http.ResponseWriter, r *http.Request) {
	g.report(w, r, func(data []byte, reportID string, now time.Time) (string, proto.Message, error) {
		rep, err := validate.DecodeErrorReport(data, g.limits)
		if err != nil {
			return "", nil, err
		}
		return streams.SubjectErrors, &servicepingv1.ErrorReport{
			ReportId: reportID, Uuid: rep.UUID, Hostname: rep.Hostname, Version: rep.Version,
			Message: rep.Message, Elapsed: rep.Elapsed, Time: rep.Time,
			ReceivedAt: timestamppb.New(now), Raw: data,
		}, nil
	})
}

// metadata is POST /usage_ping_metadata.
func (g *Gateway) metadata(w http.ResponseWriter, r *http.Request) {
	g.report(w, r, func(data []byte, reportID string, now time.Time) (string, proto.Message, error) {
		md, err := validate.DecodeMetadata(data, g.limits)
		if err != nil {
			return "", nil, err
		}
		msg := &servicepingv1.MetricTimings{
			ReportId: reportID, Uuid: md.UUID, ReceivedAt: timestamppb.New(now), Raw: data,
			Metrics: make([]*servicepingv1.MetricTiming, len(md.Metrics)),
		}
		for i, mt := range md.Metrics {
			msg.Metrics[i] = &servicepingv1.MetricTiming{Name: mt.Name, TimeElapsed: mt.TimeElapsed, Error: mt.Error}
		}
		return streams.SubjectMetadata, msg, nil
	})
}

// report is the shared path of the two report endpoints: the idempotency
// key is the SHA-256 of the decompressed body.
func (g *Gateway) report(w http.ResponseWriter, r *http.Request, build func(data []byte, reportID string, now time.Time) (string, proto.Message, error)) {
	_, b, done, ok := g.intake(w, r)
	if !ok {
		return
	}
	defer done()
	reportID := streams.ReportMsgID(b.data)
	subject, msg, err := build(b.data, reportID, g.now())
	if err != nil {
		g.fail(w, r, fromPayload(err))
		return
	}
	data, release, err := encode(msg)
	defer release()
	if err != nil {
		g.fail(w, r, g.marshalFailed(subject, err))
		return
	}
	if apiErr := g.publish(r.Context(), subject, streams.Reports, reportID, data); apiErr != nil {
		g.fail(w, r, apiErr)
		return
	}
	writeJSON(w, http.StatusCreated, struct{}{})
}

// readyz answers 200 only while NATS is connected and the PINGS stream answers.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	notReady := func(msg string) {
		g.setRetryAfter(w, g.cfg.RetryAfter)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not_ready", "message": msg})
	}
	if g.nc != nil && !g.nc.IsConnected() {
		notReady("nats is not connected")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := g.js.Stream(ctx, streams.Pings); err != nil {
		notReady("stream " + streams.Pings + " is not available")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
