package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/testinfra"
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

// TestStreamAndNATSSettings: the loader reads the STREAM_* and NATS_*
// settings every service shares, and reports each bad one at start.
func TestStreamAndNATSSettings(t *testing.T) {
	t.Parallel()
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	creds := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(creds, []byte("creds"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loader.LoadConfig(ctx, envconfig.MapLookuper(map[string]string{
		"NATS_URL": "nats://n1:4222,nats://n2:4222", "NATS_CREDS": creds,
		"STREAM_REPLICAS": "3", "STREAM_MAX_BYTES": "10737418240", "STREAM_COMPRESSION": "s2",
	}), log)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Streams; s.Replicas != 3 || s.MaxBytes != 10<<30 || s.Compression != "s2" || s.Storage != "file" || s.MaxAge != 720*time.Hour {
		t.Errorf("streams %+v", s)
	}
	if cfg.NATSAuth.Creds != creds || cfg.NATSURL != "nats://n1:4222,nats://n2:4222" {
		t.Errorf("NATS %q with %+v", cfg.NATSURL, cfg.NATSAuth)
	}

	_, err = loader.LoadConfig(ctx, envconfig.MapLookuper(map[string]string{
		"STREAM_REPLICAS": "9", "STREAM_STORAGE": "disk", "NATS_TLS_CERT": creds,
	}), log)
	testinfra.ErrorSays(t, "LoadConfig", err, "STREAM_REPLICAS", "STREAM_STORAGE", "NATS_TLS_CERT and NATS_TLS_KEY")
}
