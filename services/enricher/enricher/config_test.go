package enricher_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/enricher/enricher"
)

func TestConfigLookupSettings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		mod  func(*enricher.Config)
		want []string // substrings of the error; none: valid
	}{
		{"no directory", func(*enricher.Config) {}, nil},
		{"postgres", func(c *enricher.Config) { c.DirectoryURL = "postgres://u:pw@db/dir" }, nil},
		{"http with crm and redis", func(c *enricher.Config) {
			c.DirectoryURL, c.CRMURL, c.RedisURL = "https://licenses.example.com", "https://crm.example.com/api", "redis://r:6379/2"
		}, nil},
		{"bad urls", func(c *enricher.Config) {
			c.DirectoryURL, c.CRMURL, c.RedisURL = "mysql://x", "ftp://crm", "http://redis"
		}, []string{"DIRECTORY_URL", "CRM_URL", "REDIS_URL"}},
		// Held messages are kept alive with InProgress: a lookup budget
		// beyond the ack wait is fine, an ack wait too short to keep alive
		// is not.
		{"budget beyond ack wait", func(c *enricher.Config) {
			c.DirectoryURL, c.LookupBudget, c.AckWait = "postgres://db/dir", time.Minute, 30*time.Second
		}, nil},
		{"ack wait below the minimum", func(c *enricher.Config) {
			c.DirectoryURL, c.AckWait = "postgres://db/dir", 2*time.Second
		}, []string{"ENRICHER_ACK_WAIT", "at least 3s"}},
		{"negative and inverted", func(c *enricher.Config) {
			c.CacheTTL, c.RetryInitial, c.RetryMax, c.BreakerFailures = -time.Second, time.Second, time.Millisecond, -1
		}, []string{"ENRICHER_CACHE_TTL", "ENRICHER_RETRY_MAX", "ENRICHER_BREAKER_FAILURES"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig()
			c.mod(&cfg)
			err := cfg.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("valid config rejected: %v", err)
				}
				return
			}
			testinfra.ErrorSays(t, "Validate", err, c.want...)
		})
	}
}

func TestConfigLogMasksSecrets(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.DirectoryURL = "postgres://enricher:s3cret-pw@db:5432/dir?sslmode=require&password=other-s3cret"
	cfg.CRMURL, cfg.CRMToken = "https://crm.example.com", "tok-s3cret"
	cfg.RedisURL = "redis://:redis-s3cret@cache:6379/1"
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", cfg)
	if strings.Contains(buf.String(), "s3cret") {
		t.Fatalf("secret logged: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "db:5432") || !strings.Contains(buf.String(), "crm.example.com") {
		t.Fatalf("URLs not logged: %s", buf.String())
	}
}
