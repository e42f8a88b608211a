package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/loader/internal/testpings"
	"github.com/serviceping/serviceping/services/loader/lake"
)

func TestRunLoadsIntoDirectory(t *testing.T) {
	_, url := testinfra.NATS(t)
	root := filepath.Join(t.TempDir(), "lake")
	t.Setenv("NATS_URL", url)
	t.Setenv("LAKE_URL", root)
	t.Setenv("LOADER_METRICS_ADDR", "127.0.0.1:0")
	t.Setenv("LOADER_BATCH_MAX_AGE", "200ms")

	stop := testinfra.Start(t, 20*time.Second, func(ctx context.Context) error {
		return run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	})
	js := testinfra.Connect(t, url)
	ep := testpings.One(t, 1, 1)
	data, err := proto.Marshal(ep)
	if err != nil {
		t.Fatal(err)
	}
	testinfra.Eventually(t, 20*time.Second, "streams created by run", func() error {
		_, err := js.Stream(context.Background(), streams.Pings)
		return err
	})
	if _, err := js.Publish(context.Background(), streams.SubjectEnriched, data, jetstream.WithMsgID(ep.GetPingId())); err != nil {
		t.Fatal(err)
	}
	testinfra.Eventually(t, 20*time.Second, "the ping in the lake", func() error {
		pings, _, err := lake.ReadDir(root)
		if err != nil {
			return err
		}
		if len(pings) != 1 || pings[0].PingID != ep.GetPingId() {
			return fmt.Errorf("the lake holds %d pings, want only %s", len(pings), ep.GetPingId())
		}
		return nil
	})
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunRejectsInvalidConfig(t *testing.T) {
	t.Setenv("LAKE_URL", "gs://bucket/prefix")
	t.Setenv("CLICKHOUSE_URL", "ftp://host/db")
	err := run(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "LAKE_URL") || !strings.Contains(err.Error(), "CLICKHOUSE_URL") {
		t.Fatalf("run = %v, want both problems reported", err)
	}
}
