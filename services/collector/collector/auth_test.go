package collector

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunRefusesOpenTrackingBeyondLoopback: without COLLECTOR_API_TOKEN the
// tracking endpoints serve loopback only.
func TestRunRefusesOpenTrackingBeyondLoopback(t *testing.T) {
	t.Parallel()
	for _, listen := range []string{"0.0.0.0:0", ":0"} {
		col, err := New(Config{Enabled: false, DefinitionsDir: filepath.Join(repoTestdata, "metrics"), GatewayURL: "http://127.0.0.1:1",
			Listen: listen, MetricTimeout: time.Second, Concurrency: 1, SubmitAttempts: 1, DataDir: t.TempDir()}, Deps{})
		must(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = col.Run(ctx)
		cancel()
		col.Close()
		if err == nil || !strings.Contains(err.Error(), "COLLECTOR_API_TOKEN") || !strings.Contains(err.Error(), listen) {
			t.Errorf("Run on %s without a token: %v, want a refusal naming COLLECTOR_API_TOKEN", listen, err)
		}
	}
}
