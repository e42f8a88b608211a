package clustere2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sethvargo/go-envconfig"

	"github.com/serviceping/serviceping/pkg/natsembed"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/gateway/gateway"
)

// TestAnOperatorsStreamIsLeftAsItIs: on a 3-node cluster an operator has
// created PINGS with 3 replicas and a 10 GiB cap; a gateway started with
// the defaults (STREAM_REPLICAS 1, no cap) creates the streams that are
// missing and leaves PINGS as it is, logging both differences.
func TestAnOperatorsStreamIsLeftAsItIs(t *testing.T) {
	ctx := context.Background()
	cluster, err := natsembed.StartCluster("operator", t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Shutdown)
	js := testinfra.Connect(t, cluster.ClientURLs())
	const tenGiB = 10 << 30
	op := streams.Configs(streams.Defaults())[0]
	if op.Name != streams.Pings {
		t.Fatalf("the first stream is %s", op.Name)
	}
	op.Replicas, op.MaxBytes = 3, tenGiB
	if _, err := js.CreateStream(ctx, op); err != nil {
		t.Fatal(err)
	}

	cfg, err := gateway.LoadConfig(ctx, envconfig.MapLookuper(map[string]string{
		"NATS_URL": cluster.ClientURLs(), "GATEWAY_LISTEN": "127.0.0.1:0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Streams.Replicas != 1 || cfg.Streams.MaxBytes != -1 {
		t.Fatalf("the gateway's defaults are %+v, want 1 replica and no cap", cfg.Streams)
	}
	var logs testinfra.Buffer
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(runCtx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry())
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})

	testinfra.Eventually(t, 30*time.Second, "the gateway creating the missing streams", func() error {
		for _, name := range []string{streams.Reports, streams.CRM, streams.DLQ} {
			s, err := js.Stream(ctx, name)
			if err != nil {
				return fmt.Errorf("stream %s: %w", name, err)
			}
			if r := s.CachedInfo().Config.Replicas; r != 1 {
				return fmt.Errorf("stream %s created with %d replicas, want the default 1", name, r)
			}
		}
		if !strings.Contains(logs.String(), "streams ready") {
			return errors.New("the gateway has not logged that the streams are ready")
		}
		return nil
	})
	for _, v := range []string{"STREAM_REPLICAS stream_value=3 configured=1", fmt.Sprintf("STREAM_MAX_BYTES stream_value=%d configured=-1", tenGiB)} {
		if !strings.Contains(logs.String(), "stream="+streams.Pings+" variable="+v) {
			t.Errorf("the gateway did not log %q:\n%s", v, logs.String())
		}
	}
	s, err := js.Stream(ctx, streams.Pings)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config; got.Replicas != 3 || got.MaxBytes != tenGiB {
		t.Errorf("PINGS now has %d replicas and max bytes %d, want the operator's 3 and %d", got.Replicas, got.MaxBytes, tenGiB)
	}
	if err := threeCurrentReplicas(ctx, js, streams.Pings); err != nil {
		t.Errorf("PINGS: %v", err)
	}
}
