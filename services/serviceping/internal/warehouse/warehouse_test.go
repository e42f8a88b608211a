package warehouse

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/chhttp"
)

func TestConfigDefaults(t *testing.T) {
	c, err := LoadConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	o := c.options(nil, nil)
	if !maps.Equal(o.Limits, chhttp.DefaultLimits()) {
		t.Fatalf("default limits %v, want the endpoint's %v", o.Limits, chhttp.DefaultLimits())
	}
	if o.QueryTimeout != 10*time.Minute || o.MaxReaders != 8 || o.MaxWriters != 4 || o.SessionTimeout != time.Minute ||
		o.MaxSessionTimeout != time.Hour || o.MaxSessions != 256 {
		t.Fatalf("defaults %+v", o)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	t.Setenv("WAREHOUSE_MAX_MEMORY_USAGE", "1000")
	t.Setenv("WAREHOUSE_MAX_READERS", "2")
	t.Setenv("WAREHOUSE_SESSION_TIMEOUT", "5s")
	c, err := LoadConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if o := c.options(nil, nil); o.Limits["max_memory_usage"] != "1000" || o.MaxReaders != 2 || o.SessionTimeout != 5*time.Second {
		t.Fatalf("options %+v", o)
	}

	t.Setenv("WAREHOUSE_MAX_READERS", "0")
	t.Setenv("WAREHOUSE_MAX_RESULT_ROWS", "-1")
	t.Setenv("WAREHOUSE_SESSION_TIMEOUT", "2h")
	_, err = LoadConfig(context.Background())
	for _, name := range []string{"WAREHOUSE_MAX_READERS", "WAREHOUSE_MAX_RESULT_ROWS", "WAREHOUSE_SESSION_TIMEOUT"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("error %v does not name %s", err, name)
		}
	}
}
