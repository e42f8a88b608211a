package backlog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/backlog"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

// TestBacklog: a consumer's pending, delivered-but-unacknowledged and
// oldest-unacknowledged figures follow publishing, fetching and acking;
// two collectors share one registry.
func TestBacklog(t *testing.T) {
	js, _ := testinfra.JetStream(t)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.a", "s.b"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "S", jetstream.ConsumerConfig{Durable: "only-a", FilterSubject: "s.a", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "S", jetstream.ConsumerConfig{Durable: "all", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	a := backlog.New(js, backlog.Consumer{Stream: "S", Name: "only-a"})
	all := backlog.New(js, backlog.Consumer{Stream: "S", Name: "all"}, backlog.Consumer{Stream: "S", Name: "missing"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(a, all)

	read := func(c *backlog.Collector, name string) backlog.Backlog {
		t.Helper()
		b, err := c.Read(ctx, backlog.Consumer{Stream: "S", Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if b := read(a, "only-a"); b != (backlog.Backlog{}) {
		t.Fatalf("empty stream: %+v", b)
	}
	if _, err := js.Publish(ctx, "s.b", []byte("b")); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	for range 3 {
		if _, err := js.Publish(ctx, "s.a", []byte("a")); err != nil {
			t.Fatal(err)
		}
	}
	testinfra.Eventually(t, 5*time.Second, "the oldest message aged", func() error {
		if b := read(a, "only-a"); b.OldestUnacked <= 0 || b.OldestUnacked > time.Since(before)+time.Second {
			return fmt.Errorf("%+v", b)
		}
		return nil
	})
	if b := read(a, "only-a"); b.Pending != 3 || b.AckPending != 0 {
		t.Fatalf("three published: %+v", b)
	}
	if b := read(all, "all"); b.Pending != 4 || b.OldestUnacked <= 0 {
		t.Fatalf("the unfiltered consumer: %+v", b)
	}
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []jetstream.Msg
	for m := range batch.Messages() {
		got = append(got, m)
	}
	if b := read(a, "only-a"); b.Pending != 1 || b.AckPending != 2 || b.OldestUnacked <= 0 {
		t.Fatalf("two delivered: %+v", b)
	}
	for _, m := range got {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rest, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range rest.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if b := read(a, "only-a"); b != (backlog.Backlog{}) {
		t.Fatalf("all acknowledged: %+v", b)
	}
	if v := testinfra.Metric(t, reg, "serviceping_consumer_pending_messages", map[string]string{"stream": "S", "consumer": "all"}); v != 4 {
		t.Fatalf("pending of all = %v, want 4", v)
	}
	if v := testinfra.Metric(t, reg, "serviceping_consumer_ack_pending_messages", map[string]string{"stream": "S", "consumer": "only-a"}); v != 0 {
		t.Fatalf("ack pending of only-a = %v, want 0", v)
	}
}
