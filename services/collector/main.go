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
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/services/collector/collector"
	"github.com/serviceping/serviceping/services/collector/internal/definitions"
	"github.com/serviceping/serviceping/services/collector/internal/dictionary"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "collector:", err)
		os.Exit(1)
	}
}

const usage = `usage: collector <preview|export|send|run|seed|dictionary> [flags]
  preview                print the payload JSON on stdout (logs on stderr)
  export --out FILE      write the payload JSON for manual upload
  send                   collect and submit now; print the DevOps Score
  run                    daemon: weekly submission + event-tracking endpoints
  seed --builds N        create the demo instance schema and fill it (DATABASE_URL)
  dictionary [--out FILE] [DIR ...]
                         write the metric dictionary CSV (dbt seed dim_ping_metric, one row
                         per key_path) from the definition files under each DIR, the first
                         DIR winning a key_path defined twice; on stdout without --out.
                         Default DIRs, under the repository root (the directory holding
                         go.work): testdata/collector/metrics testdata/gitlab/metrics
                         The repository's seed: --out dbt/seeds/dim_ping_metric.csv
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	cmd, args := args[0], args[1:]
	var cfg collector.Config
	if err := envconfig.Process(ctx, &cfg); err != nil {
		return fmt.Errorf("read environment: %w", err)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", os.Getenv("COLLECTOR_CONFIG"), "YAML config file (instance, settings, license_file, privacy, ...)")
	out := fs.String("out", "", "export, dictionary: output file")
	builds := fs.Int("builds", 100_000, "seed: rows in ci_builds (other tables scale from it)")
	var flagCfg collector.Config
	fs.StringVar(&flagCfg.DefinitionsDir, "definitions", "", "metric definitions directory (COLLECTOR_DEFINITIONS)")
	fs.StringVar(&flagCfg.MappingFile, "instrumentations", "", "instrumentation class mapping (COLLECTOR_INSTRUMENTATIONS)")
	fs.StringVar(&flagCfg.KnownEvents, "known-events", "", "known events YAML (COLLECTOR_KNOWN_EVENTS)")
	fs.StringVar(&flagCfg.SchemaDir, "schema-dir", "", "metric JSON schema directory; default embedded (COLLECTOR_SCHEMA_DIR)")
	fs.StringVar(&flagCfg.DatabaseURL, "database-url", "", "instance PostgreSQL (DATABASE_URL)")
	fs.StringVar(&flagCfg.RedisURL, "redis-url", "", "instance Redis (REDIS_URL)")
	fs.StringVar(&flagCfg.GatewayURL, "gateway-url", "", "gateway base URL (GATEWAY_URL)")
	fs.StringVar(&flagCfg.PrometheusURL, "prometheus-url", "", "Prometheus base URL (PROMETHEUS_URL)")
	fs.StringVar(&flagCfg.Listen, "listen", "", "run: HTTP listen address (COLLECTOR_LISTEN)")
	fs.StringVar(&flagCfg.DataDir, "data-dir", "", "state directory: uuid, devops score (COLLECTOR_DATA_DIR)")
	fs.StringVar(&flagCfg.LogLevel, "log-level", "", "debug|info|warn|error (LOG_LEVEL)")
	fs.DurationVar(&flagCfg.MetricTimeout, "metric-timeout", 0, "per-metric timeout (COLLECTOR_METRIC_TIMEOUT)")
	enabled := fs.String("usage-ping-enabled", "", "true|false: switch collection and sending on or off (USAGE_PING_ENABLED)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configFile != "" {
		// The file fills what the environment left at its zero value.
		var fileCfg collector.Config
		fileEnabled, err := fileCfg.LoadFile(*configFile)
		if err != nil {
			return err
		}
		mergeFile(&cfg, fileCfg)
		if fileEnabled != nil && os.Getenv("USAGE_PING_ENABLED") == "" {
			cfg.Enabled = *fileEnabled
		}
	}
	mergeFlags(&cfg, flagCfg)
	if *enabled != "" {
		cfg.Enabled = *enabled == "true"
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level(cfg.LogLevel)}))

	if cmd == "seed" {
		return seed(ctx, cfg.DatabaseURL, *builds, log)
	}
	if cmd == "dictionary" {
		return writeDictionary(fs.Args(), *out, cfg.SchemaDir, stdout, log)
	}
	deps := collector.Deps{Log: log}
	if cmd == "run" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		deps.Registerer, deps.Gatherer = reg, reg
	}
	switch cmd {
	case "preview", "export", "send", "run":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	if !cfg.Enabled && cmd != "run" {
		return collector.ErrDisabled
	}
	app, err := collector.New(ctx, cfg, deps)
	if err != nil {
		return err
	}
	defer app.Close()
	switch cmd {
	case "preview":
		return app.Export(ctx, stdout)
	case "export":
		if *out == "" {
			return errors.New("export needs --out FILE")
		}
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("create %s: %w", *out, err)
		}
		if err := app.Export(ctx, f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
		log.Info("payload exported", "file", *out, "upload", "GET /usage_data/new on the gateway")
		return nil
	case "send":
		ds, err := app.Send(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "usage_data_id: %d\n", ds.UsageDataID)
		if ds.Score != nil {
			fmt.Fprintf(stdout, "devops_score: %.2f\n", *ds.Score)
		} else {
			fmt.Fprintln(stdout, "devops_score: not yet available (first ping)")
		}
		return nil
	default: // run
		return app.Run(ctx)
	}
}

func level(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// mergeFile copies file values into cfg where cfg holds only the env
// default or zero. Instance/settings/license/privacy come from the file.
func mergeFile(cfg *collector.Config, f collector.Config) {
	str := func(dst *string, v string, envName string) {
		if v != "" && os.Getenv(envName) == "" {
			*dst = v
		}
	}
	str(&cfg.DefinitionsDir, f.DefinitionsDir, "COLLECTOR_DEFINITIONS")
	str(&cfg.SchemaDir, f.SchemaDir, "COLLECTOR_SCHEMA_DIR")
	str(&cfg.MappingFile, f.MappingFile, "COLLECTOR_INSTRUMENTATIONS")
	str(&cfg.KnownEvents, f.KnownEvents, "COLLECTOR_KNOWN_EVENTS")
	str(&cfg.DatabaseURL, f.DatabaseURL, "DATABASE_URL")
	str(&cfg.RedisURL, f.RedisURL, "REDIS_URL")
	str(&cfg.RedisPrefix, f.RedisPrefix, "COLLECTOR_REDIS_PREFIX")
	str(&cfg.GatewayURL, f.GatewayURL, "GATEWAY_URL")
	str(&cfg.PrometheusURL, f.PrometheusURL, "PROMETHEUS_URL")
	str(&cfg.Listen, f.Listen, "COLLECTOR_LISTEN")
	str(&cfg.DataDir, f.DataDir, "COLLECTOR_DATA_DIR")
	str(&cfg.LogLevel, f.LogLevel, "LOG_LEVEL")
	if f.MetricTimeout > 0 && os.Getenv("COLLECTOR_METRIC_TIMEOUT") == "" {
		cfg.MetricTimeout = f.MetricTimeout
	}
	if f.StatementTimeout > 0 && os.Getenv("COLLECTOR_STATEMENT_TIMEOUT") == "" {
		cfg.StatementTimeout = f.StatementTimeout
	}
	cfg.Instance, cfg.Settings, cfg.License, cfg.Privacy = f.Instance, f.Settings, f.License, f.Privacy
}

func mergeFlags(cfg *collector.Config, f collector.Config) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.DefinitionsDir, f.DefinitionsDir)
	set(&cfg.MappingFile, f.MappingFile)
	set(&cfg.KnownEvents, f.KnownEvents)
	set(&cfg.SchemaDir, f.SchemaDir)
	set(&cfg.DatabaseURL, f.DatabaseURL)
	set(&cfg.RedisURL, f.RedisURL)
	set(&cfg.GatewayURL, f.GatewayURL)
	set(&cfg.PrometheusURL, f.PrometheusURL)
	set(&cfg.Listen, f.Listen)
	set(&cfg.DataDir, f.DataDir)
	set(&cfg.LogLevel, f.LogLevel)
	if f.MetricTimeout > 0 {
		cfg.MetricTimeout = f.MetricTimeout
	}
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
