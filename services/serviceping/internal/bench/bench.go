// Package bench measures the pipeline against the limits under it, in one
// run on one machine (`serviceping bench`, `make bench-pipeline`): N
// generated full-size pings posted by the load generator of `serviceping
// loadgen` to a trivial Go HTTP server (the HTTP ceiling), the same bodies
// published straight to JetStream (the NATS ceiling), the standalone
// gateway on a standalone nats-server, and the all-in-one `serviceping
// run`, accepted and end to end (until every ping is in `pings FINAL`),
// with the peak resident memory of each program. Every program is the
// built binary with the variables a user would set, on free loopback
// ports and temporary directories that are removed afterwards.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/serviceping/serviceping/services/serviceping/internal/client"
)

// Config of a bench run.
type Config struct {
	// Bins are the directories of the builds measured, each holding the
	// gateway, enricher, loader and serviceping binaries: each round measures them in turn,
	// so that a machine whose load changes weighs on every build alike.
	Bins []string
	// NATSServer is the nats-server executable.
	NATSServer string
	// Pings per measurement, Rounds of every measurement, Concurrency of
	// the load generator and of the raw publishers, and the distinct
	// installations the pings come from.
	Pings, Rounds, Concurrency, Instances int
	// Timeout bounds each measurement: a load run, and the wait until
	// every accepted ping is queryable.
	Timeout time.Duration
	// StartTimeout bounds each program's start.
	StartTimeout time.Duration
	// Poll is how often the end-to-end measurement asks the warehouse
	// which pings it holds: the resolution of ping→queryable.
	Poll time.Duration
	// RSSInterval is how often resident memory is sampled.
	RSSInterval time.Duration
	// TempDir is where the temporary directories go ("": the system's).
	TempDir string
	Logger  *slog.Logger

	// bin is the build a measurement runs, one of Bins.
	bin string
}

// Validate reports what Run cannot work with.
func (c Config) Validate() error {
	var errs []error
	if c.Pings <= 0 || c.Rounds <= 0 || c.Concurrency <= 0 || c.Instances <= 0 {
		errs = append(errs, errors.New("pings, rounds, concurrency and instances must be positive"))
	}
	if c.Timeout <= 0 || c.StartTimeout <= 0 || c.Poll <= 0 || c.RSSInterval <= 0 {
		errs = append(errs, errors.New("timeout, start timeout, poll and RSS interval must be positive"))
	}
	if len(c.Bins) == 0 {
		errs = append(errs, errors.New("no build to measure"))
	}
	files := []string{c.NATSServer}
	for _, b := range c.Bins {
		for _, name := range []string{"gateway", "enricher", "loader", "serviceping"} {
			files = append(files, filepath.Join(b, name))
		}
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("%w (make build and make nats-server build them)", err))
		} else if st.IsDir() || st.Mode()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("%s is not an executable", f))
		}
	}
	return errors.Join(errs...)
}

// Load is one measurement of posting or publishing the pings.
type Load struct {
	Sent, Accepted int64
	// Bytes are the bodies sent.
	Bytes int64
	// Elapsed runs from the first request to the last answer.
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// Rate is the accepted pings per second.
func (l Load) Rate() float64 { return perSecond(l.Accepted, l.Elapsed) }

// perSecond is n over d; 0 for no time.
func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Round is one round of every measurement.
type Round struct {
	// HTTP is the trivial Go HTTP server (the HTTP ceiling).
	HTTP Load
	// Raw is the bodies published to JetStream directly; RawNATSRSS the
	// nats-server's peak resident memory meanwhile.
	Raw        Load
	RawNATSRSS int64
	// Gateway is the standalone gateway on a standalone nats-server, with
	// the peak resident memory of each.
	Gateway                    Load
	GatewayRSS, GatewayNATSRSS int64
	// AllInOne is what the all-in-one accepted; E2E runs from its first
	// request until every accepted ping was in `pings FINAL`.
	AllInOne Load
	E2E      E2E
	// AllInOneRSS is the peak resident memory of the all-in-one's process
	// tree (the engine runs in a child process); AllInOneEndRSS the same
	// once every ping was queryable.
	AllInOneRSS, AllInOneEndRSS int64
	// Distributed is what the gateway of the distributed topology accepted
	// (each stage its own process on one nats-server, writing the
	// `serviceping warehouse` endpoint); DistributedE2E its end to end;
	// DistributedRSS the peak resident memory of each of its processes
	// (stageProcesses).
	Distributed    Load
	DistributedE2E E2E
	DistributedRSS map[string]int64
	// Load is the machine's load average (1, 5, 15 minutes) when the round
	// began.
	Load string
}

// Build is the figures of one build.
type Build struct {
	// Bin is its directory; Versions what its binaries' --version print.
	Bin      string
	Versions []string
	Rounds   []Round
}

// Report is a whole run.
type Report struct {
	Config  Config
	Machine Machine
	// Builds are in the order of Config.Bins.
	Builds  []Build
	Started time.Time
	Took    time.Duration
	// LoadAfter is the load average when the run ended.
	LoadAfter string
}

// Run measures cfg.Rounds rounds, in each every build in turn, each
// measurement with fresh servers and directories, and reports every
// figure; progress goes to cfg.Logger. It stops
// everything it started and removes its directories before it returns,
// whether it succeeded, failed or ctx ended.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rep := Report{Config: cfg, Machine: ReadMachine(), Started: time.Now()}
	for _, bin := range cfg.Bins {
		b := Build{Bin: bin}
		for _, name := range []string{"gateway", "serviceping"} {
			b.Versions = append(b.Versions, version(ctx, filepath.Join(bin, name)))
		}
		rep.Builds = append(rep.Builds, b)
	}
	bodies, err := generate(cfg.Pings, cfg.Instances)
	if err != nil {
		return rep, err
	}
	for i := range cfg.Rounds {
		for j := range rep.Builds {
			b := &rep.Builds[j]
			c := cfg
			c.bin, c.Logger = b.Bin, cfg.Logger.With("bin", b.Bin)
			r, err := round(ctx, c, bodies, i+1)
			if err != nil {
				return rep, fmt.Errorf("round %d of %s: %w", i+1, b.Bin, err)
			}
			b.Rounds = append(b.Rounds, r)
		}
	}
	rep.Took = time.Since(rep.Started)
	rep.LoadAfter = loadAverage()
	return rep, nil
}

// round runs every measurement once.
func round(ctx context.Context, cfg Config, bodies [][]byte, n int) (Round, error) {
	r := Round{Load: loadAverage()}
	log := cfg.Logger.With("round", n)
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"trivial HTTP server", func(ctx context.Context) (err error) { r.HTTP, err = trivialHTTP(ctx, cfg); return err }},
		{"raw JetStream publish", func(ctx context.Context) error { return rawJetStream(ctx, cfg, bodies, &r) }},
		{"standalone gateway", func(ctx context.Context) error { return standaloneGateway(ctx, cfg, &r) }},
		{"all-in-one", func(ctx context.Context) error { return allInOne(ctx, cfg, &r) }},
		{"distributed", func(ctx context.Context) error { return distributed(ctx, cfg, &r) }},
	}
	for _, s := range steps {
		log.Info("measuring", "what", s.name, "pings", cfg.Pings, "load_average", loadAverage())
		if err := s.run(ctx); err != nil {
			return r, fmt.Errorf("%s: %w", s.name, err)
		}
		if err := ctx.Err(); err != nil {
			return r, err
		}
	}
	log.Info("round done", "http_pings_s", int(r.HTTP.Rate()), "raw_pings_s", int(r.Raw.Rate()), "gateway_pings_s", int(r.Gateway.Rate()),
		"all_in_one_accepted_pings_s", int(r.AllInOne.Rate()), "end_to_end_pings_s", int(r.E2E.Rate()),
		"distributed_end_to_end_pings_s", int(r.DistributedE2E.Rate()))
	return r, nil
}

// tempDir is a fresh directory for one measurement and the function that
// removes it.
func tempDir(cfg Config, name string) (string, func(), error) {
	dir, err := os.MkdirTemp(cfg.TempDir, "serviceping-bench-"+name+"-")
	if err != nil {
		return "", nil, fmt.Errorf("create a temporary directory: %w", err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// post runs the load generator of `serviceping loadgen` against url: the
// pings Load generates for cfg, cfg.Concurrency in flight, bounded by
// cfg.Timeout. It fails when any ping was not accepted. first, when not
// nil, is called with the time of the first request.
func post(ctx context.Context, cfg Config, url string, first func(time.Time)) (Load, error) {
	rt := &firstRequest{next: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency}, at: first}
	s := client.Sender{HTTP: &http.Client{Timeout: 30 * time.Second, Transport: rt}, GatewayURL: url}
	res, err := s.Load(ctx, client.LoadOptions{Pings: cfg.Pings, Instances: cfg.Instances, Concurrency: cfg.Concurrency, Duration: cfg.Timeout})
	if err != nil {
		return Load{}, err
	}
	l := Load{Sent: res.Sent, Accepted: res.Accepted, Bytes: res.Bytes, Elapsed: res.Elapsed, P50: res.P50, P99: res.P99}
	if err := ctx.Err(); err != nil {
		return l, err
	}
	if res.Accepted != int64(cfg.Pings) {
		return l, fmt.Errorf("%d of %d pings accepted within %s (statuses %v, transport errors %d)", res.Accepted, cfg.Pings, cfg.Timeout, res.Statuses, res.Errors)
	}
	return l, nil
}

// firstRequest is a transport that reports when its first request starts.
type firstRequest struct {
	next    http.RoundTripper
	at      func(time.Time)
	started atomic.Bool
}

func (f *firstRequest) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.at != nil && f.started.CompareAndSwap(false, true) {
		f.at(time.Now())
	}
	return f.next.RoundTrip(r)
}

// version is what bin --version prints, or why it could not say.
func version(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := execOutput(ctx, bin, "--version")
	if err != nil {
		return fmt.Sprintf("%s (--version: %v)", filepath.Base(bin), err)
	}
	return out
}

// discard drains and closes a response body.
func discard(b io.ReadCloser) {
	_, _ = io.Copy(io.Discard, b)
	b.Close()
}
