package redact_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/redact"
)

func TestURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"clickhouse://user:secret@ch:9000/db", "clickhouse://user:xxxxx@ch:9000/db"},
		{"redis://:secret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"nats://s3cr3t-token@nats:4222", "nats://xxxxx@nats:4222"},
		{"postgres://app@db:5432/directory?sslmode=disable&password=secret", "postgres://xxxxx@db:5432/directory?password=xxxxx&sslmode=disable"},
		{"https://crm.example.com/api?access_token=abc&page=2", "https://crm.example.com/api?access_token=xxxxx&page=2"},
		{"http://ch:8123/db?user=default", "http://ch:8123/db?user=default"},
		{"postgres://user:p%zz@db/x", "(unparsable URL)"},
		{"nats://a:4222, nats://u:pw@b:4222,tls://tok@c:4222", "nats://a:4222,nats://u:xxxxx@b:4222,tls://xxxxx@c:4222"},
		{"nats://u:pa,ss@b:4222", "nats://u:xxxxx@b:4222"}, // one URL: the part after the comma has no scheme
	} {
		if got := redact.URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

type inner struct {
	Token string `env:"INNER_TOKEN" secret:"true"`
}

type config struct {
	NATSURL  string        `env:"NATS_URL, default=nats://127.0.0.1:4222"`
	Listen   string        `env:"LISTEN"`
	Token    string        `env:"SOME_TOKEN" secret:"true"`
	Unset    string        `env:"UNSET_TOKEN" secret:"true"`
	Workers  int           `env:"WORKERS, default=4"`
	Timeout  time.Duration `env:"TIMEOUT"`
	Enabled  bool          `env:"ENABLED"`
	NotMine  string        // no variable: left out
	internal string        `env:"INTERNAL"` // unexported: left out
	inner
	Nested struct {
		DB string `env:"DATABASE_URL"`
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	c := config{
		NATSURL: "nats://user:pw@nats:4222", Listen: "127.0.0.1:8080", Token: "t0ken", Workers: 2,
		Timeout: 1500 * time.Millisecond, Enabled: true, NotMine: "x", internal: "y", inner: inner{Token: "inner"},
	}
	c.Nested.DB = "postgres://app:pw@db/x"
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("starting", "config", redact.Config(&c))
	got := buf.String()
	for _, want := range []string{
		"config.nats_url=nats://user:xxxxx@nats:4222", "config.listen=127.0.0.1:8080", "config.some_token=xxxxx",
		`config.unset_token=""`, "config.workers=2", "config.timeout=1.5s", "config.enabled=true",
		"config.inner_token=xxxxx", "config.database_url=postgres://app:xxxxx@db/x",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log line lacks %s:\n%s", want, got)
		}
	}
	for _, leak := range []string{"pw", "t0ken", "inner ", "not_mine", "internal"} {
		if strings.Contains(got, leak) {
			t.Errorf("log line holds %q:\n%s", leak, got)
		}
	}
}
