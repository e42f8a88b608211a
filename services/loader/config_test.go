package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/services/loader/loader"
)

// TestMetricsListenRenamed: METRICS_LISTEN sets the metrics listener;
// LOADER_METRICS_ADDR, its old name, still does for one release when
// METRICS_LISTEN is not set, and its use is logged either way.
func TestMetricsListenRenamed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
		warn string
	}{
		{"default", nil, "127.0.0.1:9103", ""},
		{"new name", map[string]string{"METRICS_LISTEN": "127.0.0.1:9200"}, "127.0.0.1:9200", ""},
		{"old name", map[string]string{"LOADER_METRICS_ADDR": "127.0.0.1:9300"}, "127.0.0.1:9300", "renamed METRICS_LISTEN"},
		{"old name empty: off", map[string]string{"LOADER_METRICS_ADDR": ""}, "", "renamed METRICS_LISTEN"},
		{"both: the new one wins", map[string]string{"METRICS_LISTEN": "127.0.0.1:9200", "LOADER_METRICS_ADDR": "127.0.0.1:9300"}, "127.0.0.1:9200", "is ignored"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var logged bytes.Buffer
			cfg, err := loader.LoadConfig(context.Background(), envconfig.MapLookuper(c.env), slog.New(slog.NewTextHandler(&logged, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MetricsListen != c.want {
				t.Errorf("metrics listener %q, want %q", cfg.MetricsListen, c.want)
			}
			if c.warn == "" && logged.Len() > 0 || !strings.Contains(logged.String(), c.warn) {
				t.Errorf("logged %q, want a warning with %q", logged.String(), c.warn)
			}
		})
	}
}
