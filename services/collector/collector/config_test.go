package collector

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// TestLoadConfig: each source wins over the ones before it — the tags'
// defaults, the file, the environment, the flags — and a variable set to
// the empty string counts as unset.
func TestLoadConfig(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(file, []byte(`usage_ping_enabled: false
gateway_url: http://file:8080
listen: 127.0.0.1:1
concurrency: 2
metric_timeout: 5s
instance:
  edition: EE
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		file  string
		env   map[string]string
		flags map[string]string
		check func(t *testing.T, cfg Config)
	}{
		{"defaults", "", nil, nil, func(t *testing.T, cfg Config) {
			if !cfg.Enabled || cfg.GatewayURL != "http://127.0.0.1:8080" || cfg.Listen != "127.0.0.1:8090" || cfg.Concurrency != 4 || cfg.MetricTimeout != time.Minute {
				t.Errorf("defaults: %+v", cfg)
			}
		}},
		{"the file over the defaults", file, nil, nil, func(t *testing.T, cfg Config) {
			if cfg.Enabled || cfg.GatewayURL != "http://file:8080" || cfg.Concurrency != 2 || cfg.MetricTimeout != 5*time.Second ||
				cfg.Instance.Edition != "EE" || cfg.DataDir != "./data/collector" {
				t.Errorf("file: %+v", cfg)
			}
		}},
		{"the environment over the file", file, map[string]string{"USAGE_PING_ENABLED": "true", "GATEWAY_URL": "http://env:8080", "COLLECTOR_LISTEN": ""}, nil, func(t *testing.T, cfg Config) {
			if !cfg.Enabled || cfg.GatewayURL != "http://env:8080" || cfg.Listen != "127.0.0.1:1" {
				t.Errorf("environment: %+v", cfg)
			}
		}},
		{"profiles from PPROF", "", map[string]string{"PPROF": "true"}, nil, func(t *testing.T, cfg Config) {
			if !cfg.Profiling.PPROF {
				t.Errorf("PPROF=true: profiling %+v", cfg.Profiling)
			}
		}},
		{"the flags over the environment", file, map[string]string{"GATEWAY_URL": "http://env:8080"}, map[string]string{"GATEWAY_URL": "http://flag:8080", "COLLECTOR_METRIC_TIMEOUT": "1m30s"}, func(t *testing.T, cfg Config) {
			if cfg.GatewayURL != "http://flag:8080" || cfg.MetricTimeout != 90*time.Second || cfg.Concurrency != 2 {
				t.Errorf("flags: %+v", cfg)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := LoadConfig(context.Background(), c.file, c.flags, envconfig.MapLookuper(c.env))
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, cfg)
		})
	}
	if _, err := LoadConfig(context.Background(), "", nil, envconfig.MapLookuper(map[string]string{"COLLECTOR_CONCURRENCY": "many"})); err == nil {
		t.Error("a bad variable was accepted")
	}
}
