// Command collector is the instance side of serviceping: it computes the
// Service Ping payload from the instance's PostgreSQL and Redis and submits
// it to a gateway (GitLab's Versions application contract).
//
//	collector preview [flags]          print the payload JSON on stdout
//	collector export --out FILE        write the payload for manual upload
//	collector send [flags]             collect and submit now, print the DevOps Score
//	collector run [flags]              weekly schedule + event-tracking endpoints
//	collector seed --builds N          create and fill the demo instance schema
//	collector dictionary [--out FILE] [DIR ...]
//	                                   write the metric dictionary CSV (dim_ping_metric)
//
// Flags and arguments go in any order; `collector COMMAND --help` lists a
// command's flags and the variables mirroring them.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/alecthomas/kong"

	"github.com/serviceping/serviceping/pkg/cli"
	"github.com/serviceping/serviceping/pkg/lifecycle"
	"github.com/serviceping/serviceping/services/collector/collector"
	"github.com/serviceping/serviceping/services/collector/internal/definitions"
	"github.com/serviceping/serviceping/services/collector/internal/dictionary"
)

func main() {
	os.Exit(cli.Main(cli.App{
		Name:        "collector",
		Description: "The instance side of Service Ping: computes the payload from the instance's PostgreSQL and Redis and submits it to a gateway. Configuration: flags, then the environment, then --config FILE.",
	}, &commands{}))
}

// commands is the collector's command line; its flags apply to every
// command.
type commands struct {
	Config           string        `env:"COLLECTOR_CONFIG" placeholder:"FILE" help:"YAML config file (instance, settings, license_file, privacy, ...)."`
	Definitions      string        `env:"COLLECTOR_DEFINITIONS" placeholder:"DIR" help:"Metric definitions directory."`
	Instrumentations string        `env:"COLLECTOR_INSTRUMENTATIONS" placeholder:"FILE" help:"Instrumentation class mapping."`
	KnownEvents      string        `name:"known-events" env:"COLLECTOR_KNOWN_EVENTS" placeholder:"FILE" help:"Known events YAML."`
	SchemaDir        string        `name:"schema-dir" env:"COLLECTOR_SCHEMA_DIR" placeholder:"DIR" help:"Metric JSON schema directory; default embedded."`
	DatabaseURL      string        `name:"database-url" env:"DATABASE_URL" placeholder:"URL" help:"Instance PostgreSQL."`
	RedisURL         string        `name:"redis-url" env:"REDIS_URL" placeholder:"URL" help:"Instance Redis."`
	GatewayURL       string        `name:"gateway-url" env:"GATEWAY_URL" placeholder:"URL" help:"Gateway base URL."`
	PrometheusURL    string        `name:"prometheus-url" env:"PROMETHEUS_URL" placeholder:"URL" help:"Prometheus base URL."`
	Listen           string        `env:"COLLECTOR_LISTEN" placeholder:"ADDR" help:"Run: HTTP listen address."`
	DataDir          string        `name:"data-dir" env:"COLLECTOR_DATA_DIR" placeholder:"DIR" help:"State directory: uuid, DevOps Score."`
	LogLevel         string        `name:"log-level" env:"LOG_LEVEL" placeholder:"LEVEL" help:"debug, info, warn or error."`
	MetricTimeout    time.Duration `name:"metric-timeout" env:"COLLECTOR_METRIC_TIMEOUT" placeholder:"DURATION" help:"Per-metric timeout."`
	UsagePingEnabled string        `name:"usage-ping-enabled" env:"USAGE_PING_ENABLED" placeholder:"BOOL" help:"true or false: switch collection and sending on or off."`

	Preview    previewCmd    `cmd:"" help:"Print the payload JSON on stdout (logs on stderr)."`
	Export     exportCmd     `cmd:"" help:"Write the payload JSON for manual upload."`
	Send       sendCmd       `cmd:"" help:"Collect and submit now; print the DevOps Score."`
	Run        runCmd        `cmd:"" help:"Daemon: weekly submission and the event-tracking endpoints."`
	Seed       seedCmd       `cmd:"" help:"Create the demo instance schema and fill it (DATABASE_URL)."`
	Dictionary dictionaryCmd `cmd:"" help:"Write the metric dictionary CSV (dbt seed dim_ping_metric, one row per key_path)."`
}

// setup is what a command gets: the configuration from flags, environment
// and file, the logger, and where to print.
type setup struct {
	cfg    collector.Config
	log    *slog.Logger
	stdout io.Writer
}

// ProvideSetup gives the commands' Run methods their setup: the
// configuration collector.LoadConfig reads from the file, the environment
// and the flags, and a logger at its level.
func (c *commands) ProvideSetup(ctx context.Context, kctx *kong.Context) (*setup, error) {
	if c.UsagePingEnabled != "" {
		if _, err := strconv.ParseBool(c.UsagePingEnabled); err != nil {
			return nil, cli.Usage(fmt.Errorf("--usage-ping-enabled %q: want true or false", c.UsagePingEnabled))
		}
	}
	cfg, err := collector.LoadConfig(ctx, c.Config, cli.FlagValues(kctx), nil)
	if err != nil {
		return nil, cli.Usage(err)
	}
	log, err := lifecycle.NewLogger(kctx.Stderr, cfg.LogLevel, "text")
	if err != nil {
		return nil, cli.Usage(err)
	}
	return &setup{cfg: cfg, log: log, stdout: kctx.Stdout}, nil
}

// withCollector starts the collector for a command that collects, runs fn
// with it and closes it.
func (s *setup) withCollector(fn func(*collector.Collector) error) error {
	if !s.cfg.Enabled {
		return collector.ErrDisabled
	}
	c, err := collector.New(s.cfg, collector.Deps{Log: s.log})
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

type previewCmd struct{}

func (previewCmd) Run(ctx context.Context, s *setup) error {
	return s.withCollector(func(col *collector.Collector) error { return col.Export(ctx, s.stdout) })
}

type exportCmd struct {
	Out string `required:"" placeholder:"FILE" help:"Output file."`
}

func (c exportCmd) Run(ctx context.Context, s *setup) error {
	return s.withCollector(func(col *collector.Collector) error {
		f, err := os.Create(c.Out)
		if err != nil {
			return fmt.Errorf("create %s: %w", c.Out, err)
		}
		if err := col.Export(ctx, f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", c.Out, err)
		}
		s.log.Info("payload exported", "file", c.Out, "upload", "GET /usage_data/new on the gateway")
		return nil
	})
}

type sendCmd struct{}

func (sendCmd) Run(ctx context.Context, s *setup) error {
	return s.withCollector(func(col *collector.Collector) error {
		ds, err := col.Send(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(s.stdout, "usage_data_id: %d\n", ds.UsageDataID)
		if ds.Score != nil {
			fmt.Fprintf(s.stdout, "devops_score: %.2f\n", *ds.Score)
		} else {
			fmt.Fprintln(s.stdout, "devops_score: not yet available (first ping)")
		}
		return nil
	})
}

type runCmd struct{}

// Run runs the weekly schedule until ctx ends; with usage ping disabled it
// keeps serving the event-tracking endpoints.
func (runCmd) Run(ctx context.Context, s *setup) error {
	reg := lifecycle.NewRegistry()
	col, err := collector.New(s.cfg, collector.Deps{Log: s.log, Registerer: reg, Gatherer: reg})
	if err != nil {
		return err
	}
	defer col.Close()
	return col.Run(ctx)
}

type seedCmd struct {
	Builds int `default:"100000" help:"Rows in ci_builds (other tables scale from it)."`
}

func (c seedCmd) Run(ctx context.Context, s *setup) error {
	return seed(ctx, s.cfg.DatabaseURL, c.Builds, s.log)
}

type dictionaryCmd struct {
	Dirs []string `arg:"" optional:"" name:"dir" help:"Definition directories; the first wins a key_path defined twice. Default, under the repository root (the directory holding go.work): testdata/collector/metrics testdata/gitlab/metrics."`
	Out  string   `placeholder:"FILE" help:"Output file; stdout without it. The repository's seed: --out dbt/seeds/dim_ping_metric.csv."`
}

func (c dictionaryCmd) Run(s *setup) error {
	return writeDictionary(c.Dirs, c.Out, s.cfg.SchemaDir, s.stdout, s.log)
}

func seed(ctx context.Context, dbURL string, builds int, log *slog.Logger) error {
	start := time.Now()
	c, err := collector.SeedInstance(ctx, dbURL, builds, start)
	if err != nil {
		return err
	}
	log.Info("instance seeded", "ci_builds", c.Builds, "users", c.Users, "projects", c.Projects, "elapsed", time.Since(start))
	return nil
}

// writeDictionary writes the metric dictionary of the definitions under
// dirs (default: the repository's) to out, or stdout when out is empty.
// Rejected definitions and key paths defined twice are logged, not fatal.
func writeDictionary(dirs []string, out, schemaDir string, stdout io.Writer, log *slog.Logger) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root := dictionary.RepositoryRoot(wd)
	if len(dirs) == 0 {
		dirs = dictionary.DefaultDirs()
	} else {
		for i, d := range dirs {
			if !filepath.IsAbs(d) {
				dirs[i] = filepath.Join(wd, d)
			}
		}
	}
	v, err := definitions.NewValidator(schemaDir)
	if err != nil {
		return err
	}
	sources, problems, err := dictionary.Load(v, root, dirs)
	if err != nil {
		return err
	}
	for _, p := range problems {
		if p.Included {
			log.Warn("definition fails the schema, listed as decoded", "file", p.File, "reason", p.Reason)
		} else {
			log.Warn("definition left out", "file", p.File, "reason", p.Reason)
		}
	}
	rows, conflicts := dictionary.Build(sources)
	for _, c := range conflicts {
		log.Warn("key_path defined twice, first kept", "key_path", c.KeyPath, "kept", c.Kept, "dropped", c.Dropped)
	}
	var buf bytes.Buffer
	if err := dictionary.WriteCSV(&buf, rows); err != nil {
		return err
	}
	if out == "" {
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write dictionary: %w", err)
	}
	log.Info("dictionary written", "file", out, "rows", len(rows), "conflicts", len(conflicts), "problems", len(problems))
	return nil
}
