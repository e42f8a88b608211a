package enricher_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/enricher/internal/seed"
)

// TestHeldMessagesKeptAliveUntilTheirHolderDies: with ENRICHER_ACK_WAIT at
// its 3s minimum and a ping whose lookups take three times as long (the
// directory refuses connections, the budget is 9s, the breaker never
// opens), the message is kept alive while it is handled: delivered once,
// acknowledged once. An enricher that dies holding a message (its
// connection gone, no heartbeat) leaves it to the other enricher about one
// ack wait later.
func TestHeldMessagesKeptAliveUntilTheirHolderDies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	js, url := testinfra.JetStream(t)
	dead := startAPI(t)
	dead.Close()
	cfg := baseConfig()
	cfg.Workers, cfg.AckWait, cfg.LookupBudget, cfg.BreakerFailures = 2, 3*time.Second, 9*time.Second, 1000
	cfg.DirectoryURL = dead.URL()
	first := testinfra.Connect(t, url)
	regA := prometheus.NewRegistry()
	run(t, first, cfg, regA)

	// Pings of licensed installations, which ask the directory.
	var licensed []*servicepingv1.RawPing
	for n := 0; len(licensed) < 2; n++ {
		if seed.Expect(n).Status == matched {
			licensed = append(licensed, rawOf(t, n, 0))
		}
	}
	var cons jetstream.Consumer
	testinfra.Eventually(t, 10*time.Second, "the enricher's consumer", func() (err error) {
		cons, err = js.Consumer(ctx, streams.Pings, streams.ConsumerEnricher)
		return err
	})
	holding := func(want int) error {
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumAckPending != want {
			return fmt.Errorf("%d messages held, want %d", info.NumAckPending, want)
		}
		return nil
	}

	start := time.Now()
	publishRaw(t, js, licensed[0])
	eps := readEnriched(t, js, 1, 30*time.Second)
	took := time.Since(start)
	if took < 2*cfg.AckWait {
		t.Fatalf("the ping took %s, not over two ack waits (%s): the test proves nothing", took, cfg.AckWait)
	}
	if s := eps[0].GetEnrichment().GetStatus(); s != failed {
		t.Errorf("status %v, want failed (directory down)", s)
	}
	testinfra.Eventually(t, 10*time.Second, "the ping acknowledged", func() error { return holding(0) })
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The consumer's delivery sequence counts redeliveries too.
	if info.Delivered.Consumer != 1 {
		t.Errorf("%d deliveries of one ping its enricher handled for %s, want 1", info.Delivered.Consumer, took.Round(time.Millisecond))
	}
	if n := metric(t, regA, "serviceping_enricher_messages_total", map[string]string{"outcome": "ack"}); n != 1 {
		t.Errorf("%v acknowledgements, want 1", n)
	}

	// The first enricher dies holding the second ping; a second one, with
	// a directory that answers, takes it over.
	publishRaw(t, js, licensed[1])
	testinfra.Eventually(t, 10*time.Second, "the first enricher holding the second ping", func() error { return holding(1) })
	first.Conn().Close()
	died := time.Now()
	live := startAPI(t)
	cfgB := baseConfig()
	cfgB.AckWait, cfgB.DirectoryURL = cfg.AckWait, live.URL()
	regB := prometheus.NewRegistry()
	run(t, testinfra.Connect(t, url), cfgB, regB)
	eps = readEnriched(t, js, 2, 30*time.Second)
	back := time.Since(died)
	t.Logf("a 9s ping held without redelivery for %s; a dead enricher's ping enriched by the other %s after it died (ack wait %s)",
		took.Round(time.Millisecond), back.Round(time.Millisecond), cfg.AckWait)
	if s := eps[1].GetEnrichment().GetStatus(); eps[1].PingId != licensed[1].PingId || s == failed {
		t.Errorf("second enriched ping %s %v, want %s looked up by the second enricher", eps[1].PingId, s, licensed[1].PingId)
	}
	// One ack wait, then a lookup: the bound leaves room for a loaded machine.
	if back > 2*cfg.AckWait+2*time.Second {
		t.Errorf("the dead enricher's ping came back after %s, want about the ack wait %s", back, cfg.AckWait)
	}
	if info, err = cons.Info(ctx); err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Consumer != 3 {
		t.Errorf("%d deliveries in all, want 3 (the first ping once, the second to each enricher)", info.Delivered.Consumer)
	}
	testinfra.Eventually(t, 10*time.Second, "the second enricher acknowledging it", func() error {
		if n := metric(t, regB, "serviceping_enricher_messages_total", map[string]string{"outcome": "ack"}); n != 1 {
			return errNotYet
		}
		return nil
	})
}
