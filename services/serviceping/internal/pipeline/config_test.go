package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipeline"
)

// TestLoadStageConfigs: the stages read their own variables once, leave the
// all-in-one's (NATS_URL, GATEWAY_LISTEN, LAKE_URL, CLICKHOUSE_URL) alone,
// and every bad variable of every stage is reported at once.
func TestLoadStageConfigs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := pipeline.LoadStageConfigs(ctx, envconfig.MapLookuper(map[string]string{
		"NATS_URL": "nats://elsewhere:4222", "GATEWAY_LISTEN": "0.0.0.0:80", "LAKE_URL": "s3://bucket/lake", "CLICKHOUSE_URL": "http://ch:8123/x",
		"GATEWAY_MAX_DEPTH": "40", "ENRICHER_WORKERS": "3", "LOADER_BATCH_MAX_PINGS": "9",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Gateway.MaxDepth != 40 || c.Enricher.Workers != 3 || c.Loader.BatchMaxPings != 9 {
		t.Errorf("stage variables not read: %d, %d, %d", c.Gateway.MaxDepth, c.Enricher.Workers, c.Loader.BatchMaxPings)
	}
	if c.Gateway.NATSURL == "nats://elsewhere:4222" || c.Gateway.Listen == "0.0.0.0:80" || c.Loader.LakeURL == "s3://bucket/lake" || c.Loader.ClickHouseURL != "" {
		t.Errorf("the all-in-one's variables were read by the stages: %+v %+v", c.Gateway, c.Loader)
	}
	_, err = pipeline.LoadStageConfigs(ctx, envconfig.MapLookuper(map[string]string{
		"GATEWAY_MAX_DEPTH": "1", "ENRICHER_WORKERS": "0", "LOADER_BATCH_MAX_PINGS": "0",
	}))
	for _, want := range []string{"GATEWAY_MAX_DEPTH", "ENRICHER_WORKERS", "LOADER_BATCH_MAX_PINGS"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// TestStagesLogTheirConfiguration: each stage logs the configuration it
// runs with: the embedded server's NATS URL, not the default.
func TestStagesLogTheirConfiguration(t *testing.T) {
	testinfra.Env(t, "CHDB_LIB") // the embedded warehouse
	ctx := context.Background()
	stages, err := pipeline.LoadStageConfigs(ctx, envconfig.MapLookuper(nil))
	if err != nil {
		t.Fatal(err)
	}
	var logs testinfra.Buffer
	p, err := pipeline.Start(ctx, pipeline.Config{
		DataDir: t.TempDir(), HTTPListen: "127.0.0.1:0", NATSListen: "127.0.0.1:0", ClickHouseListen: "127.0.0.1:0",
		Gateway: stages.Gateway, Enricher: stages.Enricher, Loader: stages.Loader, Warehouse: stages.Warehouse,
	}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	want := map[string]string{"gateway listening": "", "enricher starting": "", "loader starting": ""}
	testinfra.Eventually(t, 20*time.Second, "each stage logging its configuration", func() error {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct {
				Msg    string
				Config map[string]any
			}
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			if _, ok := want[rec.Msg]; ok && rec.Config != nil {
				want[rec.Msg], _ = rec.Config["nats_url"].(string)
			}
		}
		for msg, got := range want {
			if got == "" {
				return fmt.Errorf("no %q with nats_url logged yet", msg)
			}
		}
		return nil
	})
	for msg, got := range want {
		if got != p.NATSURL {
			t.Errorf("%q logged nats_url %q, want the pipeline's %q", msg, got, p.NATSURL)
		}
	}
	// LOADER_CLICKHOUSE_INSERT=auto: the embedded engine reads the
	// batches from the lake directory (Start logged it before returning).
	if !strings.Contains(logs.String(), `"msg":"warehouse ready"`) || !strings.Contains(logs.String(), `"insert":"lake"`) {
		t.Errorf("the loader did not log that the embedded warehouse reads the lake:\n%s", logs.String())
	}
}
