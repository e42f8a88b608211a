package collector

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/services/collector/internal/classes"
	"github.com/serviceping/serviceping/services/collector/internal/database"
	"github.com/serviceping/serviceping/services/collector/internal/definitions"
	"github.com/serviceping/serviceping/services/collector/internal/eventtrack"
	"github.com/serviceping/serviceping/services/collector/internal/instrument"
	"github.com/serviceping/serviceping/services/collector/internal/payload"
	"github.com/serviceping/serviceping/services/collector/internal/schedule"
	"github.com/serviceping/serviceping/services/collector/internal/submit"
)

// Public aliases so other modules (the end-to-end tests) can drive the
// submitter and read payloads without reaching into internal/.
type (
	Submitter    = submit.Submitter
	SubmitConfig = submit.Config
	Ping         = submit.Ping
	SubmitResult = submit.Result
	Timing       = submit.Timing
	Payload      = payload.Result
)

// ErrDisabled is returned by Send/Build when usage ping is switched off.
var ErrDisabled = errors.New("usage ping is disabled (USAGE_PING_ENABLED=false)")

// Deps are injected collaborators; zero values get defaults.
type Deps struct {
	Log        *slog.Logger
	Registerer prometheus.Registerer // for `collector run`; nil: a private registry
	Gatherer   prometheus.Gatherer   // served on /metrics with Registerer
	Now        func() time.Time
	HTTP       *http.Client
	// Topology replaces the host topology (tests use a fixed one).
	Topology func(ctx context.Context) map[string]any
}

// Collector is the instance side's stage: New(cfg, deps), Run(ctx) for the
// weekly schedule and the event-tracking endpoints, Close; Build, Export
// and Send for the commands that collect once.
type Collector struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	set       *definitions.Set
	mapping   *definitions.Mapping
	pool      *pgxpool.Pool
	rdb       *redis.Client
	tracker   *eventtrack.Tracker
	builder   *payload.Builder
	submitter *submit.Submitter
	reg       prometheus.Registerer
	gatherer  prometheus.Gatherer
	sends     *prometheus.CounterVec
	buildDur  prometheus.Histogram
}

// New loads definitions and connects to the data sources (lazily: a
// database or Redis that is down makes its metrics fall back, not New fail).
func New(cfg Config, deps Deps) (*Collector, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	c := &Collector{cfg: cfg, log: deps.Log, now: deps.Now, reg: deps.Registerer, gatherer: deps.Gatherer}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.reg == nil {
		r := prometheus.NewRegistry()
		c.reg, c.gatherer = r, r
	}
	c.sends = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "collector", Name: "submissions_total",
		Help: "Service Ping submissions by result."}, []string{"result"})
	c.buildDur = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "collector", Name: "build_duration_seconds",
		Help: "Time to compute the payload.", Buckets: prometheus.ExponentialBuckets(0.1, 2, 12)})
	for _, m := range []prometheus.Collector{c.sends, c.buildDur} {
		if err := c.reg.Register(m); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}

	v, err := definitions.NewValidator(cfg.SchemaDir)
	if err != nil {
		return nil, err
	}
	if c.set, err = v.Load(cfg.DefinitionsDir); err != nil {
		return nil, err
	}
	for _, p := range c.set.Problems {
		if p.Kept {
			c.log.Warn("metric definition fails the schema in descriptive attributes only, computed anyway", "file", p.File, "reason", p.Reason)
			continue
		}
		c.log.Warn("metric definition skipped", "file", p.File, "reason", p.Reason)
	}
	mappingFile := cfg.MappingFile
	if mappingFile == "" {
		if p := filepath.Join(cfg.DefinitionsDir, "..", "instrumentations.yml"); fileExists(p) {
			mappingFile = p
		}
	}
	if c.mapping, err = definitions.LoadMapping(mappingFile); err != nil {
		return nil, err
	}
	c.mapping.Fallback = classes.Builtin()
	c.log.Info("definitions loaded", "files", c.set.Files, "metrics", len(c.set.Metrics),
		"aggregates", len(c.set.Aggregates), "problems", len(c.set.Problems))

	uuid := cfg.Instance.UUID
	if uuid == "" {
		if uuid, err = instanceUUID(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	env := &instrument.Env{
		System:        instrument.System{Edition: cfg.Instance.Edition, Settings: cfg.Settings, Topology: deps.Topology},
		PrometheusURL: cfg.PrometheusURL, HTTP: deps.HTTP,
		Config: cfg.Gitlab, UsagePingEnabled: cfg.Enabled, ConnectivityURL: cfg.ConnectivityURL,
		Flag: func(name string) bool { on, ok := cfg.FeatureFlags[name]; return !ok || on },
	}
	if cfg.License != "" {
		if env.License, err = instrument.LoadLicense(cfg.License); err != nil {
			return nil, err
		}
	}
	if cfg.DatabaseURL != "" {
		pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
		}
		pc.MaxConns = int32(cfg.Concurrency + 1)
		pc.ConnConfig.RuntimeParams["application_name"] = "serviceping-collector"
		if c.pool, err = pgxpool.NewWithConfig(context.Background(), pc); err != nil {
			return nil, fmt.Errorf("open database pool: %w", err)
		}
		env.DB = &database.Counter{Pool: c.pool, StatementTimeout: cfg.StatementTimeout, Now: c.now}
	}
	reg := eventtrack.NewRegistry()
	if cfg.KnownEvents != "" {
		if err := eventtrack.LoadKnownEvents(reg, cfg.KnownEvents); err != nil {
			c.Close()
			return nil, err
		}
	}
	instrument.RegisterEvents(reg, c.mapping, c.set.Metrics, c.set.Aggregates)
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("parse REDIS_URL: %w", err)
		}
		c.rdb = redis.NewClient(opt)
		c.tracker = &eventtrack.Tracker{Redis: c.rdb, Registry: reg, Prefix: cfg.RedisPrefix, Now: c.now, Flags: cfg.FeatureFlags}
		env.Tracker = c.tracker
	}
	c.builder = &payload.Builder{
		Env: env, Mapping: c.mapping, MetricTimeout: cfg.MetricTimeout, Concurrency: cfg.Concurrency,
		Privacy: cfg.Privacy, Log: c.log, Now: c.now, ExcludeOptional: cfg.ExcludeOptional,
		Flag: env.Flag,
		Identity: payload.Identity{UUID: uuid, Hostname: cfg.Instance.Hostname, Version: cfg.Instance.Version,
			InstallationType: cfg.Instance.InstallationType},
	}
	if c.submitter, err = submit.New(submit.Config{BaseURL: cfg.GatewayURL, HTTP: deps.HTTP, Attempts: cfg.SubmitAttempts,
		Backoff: cfg.SubmitBackoff, Log: c.log, Now: c.now}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// instanceUUID reads or creates the instance UUID kept in dataDir.
func instanceUUID(dataDir string) (string, error) {
	p := filepath.Join(dataDir, "uuid")
	if b, err := os.ReadFile(p); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	id := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	if err := os.WriteFile(p, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("store instance uuid: %w", err)
	}
	return id, nil
}

// Definitions returns the loaded definitions.
func (c *Collector) Definitions() *definitions.Set { return c.set }

// UUID is the instance UUID.
func (c *Collector) UUID() string { return c.builder.Identity.UUID }

// Build computes the payload.
func (c *Collector) Build(ctx context.Context) (*Payload, error) {
	if !c.cfg.Enabled {
		return nil, ErrDisabled
	}
	res, err := c.builder.Build(ctx, c.set)
	if err != nil {
		return nil, err
	}
	c.buildDur.Observe(res.Elapsed.Seconds())
	c.log.Info("payload built", "metrics", len(res.Metrics), "failed", res.Failed, "elapsed", res.Elapsed)
	if err := c.storeLastPayload(res); err != nil {
		c.log.Warn("store last payload for the instance api", "err", err)
	}
	return res, nil
}

// Export writes the payload JSON (indented) for manual upload.
func (c *Collector) Export(ctx context.Context, w io.Writer) error {
	res, err := c.Build(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res.Payload)
}

// PingOf turns a built payload into what the submitter sends.
func (c *Collector) PingOf(res *Payload) (Ping, error) {
	body, err := res.JSON()
	if err != nil {
		return Ping{}, fmt.Errorf("encode payload: %w", err)
	}
	timings := make([]submit.Timing, len(res.Metrics))
	for i, t := range res.Metrics {
		timings[i] = submit.Timing(t)
	}
	host, _ := res.Payload["hostname"].(string) // after privacy rules
	return Ping{Payload: body, UUID: c.UUID(), Hostname: host, Version: c.builder.Identity.Version,
		Metrics: timings, Started: res.RecordedAt}, nil
}

// DevOpsScore is the stored answer of the last successful submission.
type DevOpsScore struct {
	UsageDataID int64          `json:"usage_data_id"`
	ReceivedAt  time.Time      `json:"received_at"`
	Score       *float64       `json:"score,omitempty"` // mean of percentage_* when present
	ConvIndex   map[string]any `json:"conv_index"`
}

// Send collects and submits now, storing the DevOps Score.
func (c *Collector) Send(ctx context.Context) (DevOpsScore, error) {
	if !c.cfg.Enabled {
		return DevOpsScore{}, ErrDisabled
	}
	started := c.now()
	res, err := c.Build(ctx)
	if err != nil {
		c.sends.WithLabelValues("collect_error").Inc()
		m := map[string]any{"hostname": c.builder.Identity.Hostname}
		payload.ApplyPrivacy(m, c.cfg.Privacy)
		host, _ := m["hostname"].(string)
		c.submitter.ReportError(ctx, Ping{UUID: c.UUID(), Hostname: host, Version: c.builder.Identity.Version, Started: started}, err)
		return DevOpsScore{}, err
	}
	p, err := c.PingOf(res)
	if err != nil {
		return DevOpsScore{}, err
	}
	sr, err := c.submitter.Submit(ctx, p)
	if err != nil {
		c.sends.WithLabelValues("error").Inc()
		return DevOpsScore{}, fmt.Errorf("submit usage data: %w", err)
	}
	c.sends.WithLabelValues("ok").Inc()
	ds := DevOpsScore{UsageDataID: sr.UsageDataID, ReceivedAt: c.now().UTC(), ConvIndex: sr.ConvIndex, Score: meanPercentage(sr.ConvIndex)}
	if err := c.storeScore(ds); err != nil {
		c.log.Warn("store devops score", "err", err)
	}
	return ds, nil
}

func meanPercentage(ci map[string]any) *float64 {
	var sum float64
	n := 0
	for k, v := range ci {
		if !strings.HasPrefix(k, "percentage_") {
			continue
		}
		var f float64
		switch x := v.(type) {
		case json.Number:
			f, _ = x.Float64()
		case float64:
			f = x
		default:
			continue
		}
		sum += f
		n++
	}
	if n == 0 {
		return nil
	}
	m := math.Round(sum/float64(n)*100) / 100
	return &m
}

func (c *Collector) scorePath() string { return filepath.Join(c.cfg.DataDir, "devops_score.json") }

func (c *Collector) storeScore(ds DevOpsScore) error {
	if err := os.MkdirAll(c.cfg.DataDir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(ds, "", "  ")
	if err != nil {
		return err
	}
	tmp := c.scorePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, c.scorePath())
}

// LastScore reads the stored DevOps Score.
func (c *Collector) LastScore() (DevOpsScore, error) {
	var ds DevOpsScore
	b, err := os.ReadFile(c.scorePath())
	if err != nil {
		return ds, err
	}
	return ds, json.Unmarshal(b, &ds)
}

// Handler serves the tracking endpoints, the instance API (api.go),
// /metrics, /healthz and GET /usage_data/devops_score.
func (c *Collector) Handler() (http.Handler, error) {
	mux := http.NewServeMux()
	if c.tracker != nil {
		h, err := eventtrack.NewHandler(c.tracker, c.cfg.APIToken, c.log, c.reg)
		if err != nil {
			return nil, err
		}
		h.Register(mux)
	}
	c.registerAPI(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /usage_data/devops_score", func(w http.ResponseWriter, _ *http.Request) {
		ds, err := c.LastScore()
		if err != nil {
			http.Error(w, `{"error":"not_found","message":"no score yet"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ds)
	})
	if c.gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(c.gatherer, promhttp.HandlerOpts{}))
	}
	return lifecycle.Profiles(mux, c.cfg.Profiling.PPROF), nil
}

// Run serves the HTTP endpoints and submits weekly at the UUID's slot
// until ctx ends. With usage ping disabled only the endpoints run.
func (c *Collector) Run(ctx context.Context) error {
	if err := c.cfg.CheckListen(); err != nil {
		return err
	}
	h, err := c.Handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", c.cfg.Listen, err)
	}
	c.log.Info("collector listening", "addr", ln.Addr().String(), "config", c.cfg)
	served := make(chan error, 1)
	go func() { served <- lifecycle.SmallHTTP(c.log).Serve(ctx, ln, h) }()
	slot := schedule.ForUUID(c.UUID())
	for {
		next := slot.Next(c.now())
		if c.cfg.Enabled {
			c.log.Info("next service ping", "at", next, "cron", slot.Cron())
		}
		// GitLab sleeps a random 0-60 s after the slot.
		jitter := time.Duration(mrand.IntN(60)) * time.Second //nolint:gosec // not security
		timer := time.NewTimer(time.Until(next) + jitter)
		select {
		case <-ctx.Done():
			timer.Stop()
			return <-served // the endpoints drained
		case err := <-served: // the server failed
			timer.Stop()
			return err
		case <-timer.C:
		}
		if !c.cfg.Enabled {
			continue
		}
		c.sendWithRetries(ctx)
	}
}

// sendWithRetries retries a failed weekly send 3 times with (n+1)×8h
// backoff, like the Sidekiq job.
func (c *Collector) sendWithRetries(ctx context.Context) {
	for n := 0; ; n++ {
		ds, err := c.Send(ctx)
		if err == nil {
			c.log.Info("service ping sent", "usage_data_id", ds.UsageDataID, "devops_score", ds.Score)
			return
		}
		if n >= 3 || ctx.Err() != nil {
			c.log.Error("service ping failed", "err", err)
			return
		}
		wait := time.Duration(n+1) * 8 * time.Hour
		c.log.Warn("service ping failed, will retry", "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Close releases connections.
func (c *Collector) Close() {
	if c.pool != nil {
		c.pool.Close()
	}
	if c.rdb != nil {
		_ = c.rdb.Close()
	}
}
