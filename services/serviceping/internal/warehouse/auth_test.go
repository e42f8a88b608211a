package warehouse

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/chhttp"
)

func readConfig(t *testing.T, env map[string]string) (Config, error) {
	t.Helper()
	return ReadConfig(context.Background(), envconfig.MapLookuper(env))
}

// TestConfigUsers: the writer is "default" without a password unless
// configured; the read-only user exists once named; passwords never show
// when the configuration is logged.
func TestConfigUsers(t *testing.T) {
	t.Parallel()
	c, err := readConfig(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.users(); len(got) != 1 || got[0] != (chhttp.User{Name: "default"}) {
		t.Fatalf("default users %+v", got)
	}
	c, err = readConfig(t, map[string]string{"WAREHOUSE_USER": "loader", "WAREHOUSE_PASSWORD": "w-pass-4411",
		"WAREHOUSE_READONLY_USER": "analyst", "WAREHOUSE_READONLY_PASSWORD": "r-pass-9922"})
	if err != nil {
		t.Fatal(err)
	}
	want := []chhttp.User{{Name: "loader", Password: "w-pass-4411"}, {Name: "analyst", Password: "r-pass-9922", ReadOnly: true}}
	if got := c.options(nil, nil).Users; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("users %+v, want %+v", got, want)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("configuration", "config", c)
	if strings.Contains(logged.String(), "pass-") || !strings.Contains(logged.String(), `"warehouse_readonly_user":"analyst"`) {
		t.Fatalf("logged configuration: %s", logged.String())
	}

	for env, name := range map[string]map[string]string{
		"WAREHOUSE_USER":          {"WAREHOUSE_USER": ""},
		"WAREHOUSE_READONLY_USER": {"WAREHOUSE_USER": "same", "WAREHOUSE_READONLY_USER": "same"},
	} {
		if _, err := readConfig(t, name); err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%v: error %v does not name %s", name, err, env)
		}
	}
}

// TestCheckListen: beyond loopback the endpoint needs every user's password.
func TestCheckListen(t *testing.T) {
	t.Parallel()
	open := Config{User: "default"}
	locked := Config{User: "default", Password: "p"}
	reader := Config{User: "default", Password: "p", ReadOnlyUser: "analyst"}
	for _, tc := range []struct {
		cfg     Config
		addr    string
		missing string // "" when allowed
	}{
		{open, "127.0.0.1:8123", ""},
		{open, "127.0.0.2:0", ""},
		{open, "localhost:8123", ""},
		{open, "[::1]:8123", ""},
		{open, "0.0.0.0:8123", "WAREHOUSE_PASSWORD"},
		{open, ":8123", "WAREHOUSE_PASSWORD"},
		{open, "[::]:8123", "WAREHOUSE_PASSWORD"},
		{open, "10.1.2.3:8123", "WAREHOUSE_PASSWORD"},
		{open, "warehouse.internal:8123", "WAREHOUSE_PASSWORD"},
		{locked, "0.0.0.0:8123", ""},
		{reader, "0.0.0.0:8123", "WAREHOUSE_READONLY_PASSWORD"},
		{reader, "127.0.0.1:8123", ""},
	} {
		err := tc.cfg.CheckListen(tc.addr)
		switch {
		case tc.missing == "" && err != nil:
			t.Errorf("%s %+v: %v", tc.addr, tc.cfg, err)
		case tc.missing != "" && (err == nil || !strings.Contains(err.Error(), tc.missing) || !strings.Contains(err.Error(), tc.addr)):
			t.Errorf("%s %+v: error %v, want one naming %s and the address", tc.addr, tc.cfg, err, tc.missing)
		}
	}
	// Both ways of running the engine refuse before they listen.
	if _, err := OpenConfig(mustDefaults(t), t.TempDir(), "0.0.0.0:0", nil, nil); err == nil || !strings.Contains(err.Error(), "WAREHOUSE_PASSWORD") {
		t.Errorf("OpenConfig beyond loopback without a password: %v", err)
	}
	if _, err := NewSupervisor(SupervisorConfig{Path: t.TempDir(), Listen: "0.0.0.0:0", Engine: mustDefaults(t)}, SupervisorDeps{}); err == nil || !strings.Contains(err.Error(), "WAREHOUSE_PASSWORD") {
		t.Errorf("NewSupervisor beyond loopback without a password: %v", err)
	}
}

func TestClientURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{User: "default"}, "http://127.0.0.1:8123/serviceping"},
		{Config{User: "loader", Password: "p@ss:w/rd"}, "http://loader:p%40ss%3Aw%2Frd@127.0.0.1:8123/serviceping"},
		{Config{User: "default", Password: "x"}, "http://default:x@127.0.0.1:8123/serviceping"},
	} {
		got := tc.cfg.ClientURL("http://127.0.0.1:8123", "serviceping")
		if got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.cfg, got, tc.want)
		}
		o, err := chconn.Options(got)
		if err != nil || o.Auth.Username != tc.cfg.User && tc.cfg.Password != "" || o.Auth.Password != tc.cfg.Password {
			t.Errorf("%s: clickhouse-go reads %+v, %v", got, o.Auth, err)
		}
	}
}

// TestSupervisorUsers: the engine's process serves the configured users —
// the writer through the URL ClientURL gives the loader, the read-only user
// reading only, nobody else.
func TestSupervisorUsers(t *testing.T) {
	cfg := mustDefaults(t)
	cfg.User, cfg.Password = "loader", "w-pass-1234"
	cfg.ReadOnlyUser, cfg.ReadOnlyPassword = "analyst", "r-pass-5678"
	s, _ := supervised(t, SupervisorConfig{Engine: cfg})
	if code, body := query(t, s.URL, "SELECT 1"); code != http.StatusForbidden || !strings.Contains(body, "Code: 516.") {
		t.Fatalf("without credentials: %d %s", code, body)
	}
	ctx := context.Background()
	w, err := chconn.Open(ctx, cfg.ClientURL(s.URL, "default"))
	if err != nil {
		t.Fatalf("writer: %v", err)
	}
	defer w.Close()
	if err := w.Exec(ctx, "CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x"); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	r, err := chconn.Open(ctx, "http://analyst:r-pass-5678@"+strings.TrimPrefix(s.URL, "http://")+"/default")
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	defer r.Close()
	var n uint64
	if err := r.QueryRow(ctx, "SELECT count() FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("reader's count: %d, %v", n, err)
	}
	var ex *clickhouse.Exception
	if err := r.Exec(ctx, "INSERT INTO t VALUES (2)"); !errors.As(err, &ex) || ex.Code != 164 {
		t.Fatalf("reader's INSERT: %v, want code 164", err)
	}
	if _, err := chconn.Open(ctx, "http://analyst:w-pass-1234@"+strings.TrimPrefix(s.URL, "http://")+"/default"); !errors.As(err, &ex) || ex.Code != 516 {
		t.Fatalf("reader with the writer's password: %v, want code 516", err)
	}
}
