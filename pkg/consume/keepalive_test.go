package consume_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/serviceping/serviceping/pkg/consume"
	"github.com/serviceping/serviceping/pkg/testinfra"
)

// TestKeepAliveHoldsPastAckWait: a message kept alive is not redelivered
// for three ack waits and can then be acknowledged; one whose heartbeats
// stop (its holder died) is redelivered about one ack wait later.
func TestKeepAliveHoldsPastAckWait(t *testing.T) {
	t.Parallel()
	const ackWait = time.Second
	ctx := context.Background()
	_, url := testinfra.NATS(t)
	js := testinfra.Connect(t, url)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KA", Subjects: []string{"ka"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "KA", jetstream.ConsumerConfig{Durable: "ka", AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait})
	if err != nil {
		t.Fatal(err)
	}
	next := func(wait time.Duration) (jetstream.Msg, error) {
		t.Helper()
		m, err := cons.Next(jetstream.FetchMaxWait(wait))
		if errors.Is(err, nats.ErrTimeout) {
			return nil, err
		}
		if err != nil {
			t.Fatal(err)
		}
		return m, nil
	}

	if _, err := js.Publish(ctx, "ka", []byte("held")); err != nil {
		t.Fatal(err)
	}
	held, err := next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	stop := consume.KeepAlive(ackWait/3, held)
	if m, err := next(3 * ackWait); err == nil {
		md, _ := m.Metadata()
		t.Fatalf("message redelivered while kept alive (delivery %d)", md.NumDelivered)
	}
	stop()
	if err := held.DoubleAck(ctx); err != nil {
		t.Fatalf("ack after three ack waits kept alive: %v", err)
	}

	if _, err := js.Publish(ctx, "ka", []byte("abandoned")); err != nil {
		t.Fatal(err)
	}
	if _, err := next(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	abandoned := time.Now() // its holder dies: no heartbeat
	again, err := next(5 * ackWait)
	if err != nil {
		t.Fatalf("the abandoned message did not come back within five ack waits: %v", err)
	}
	md, err := again.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Data()) != "abandoned" || md.NumDelivered != 2 {
		t.Fatalf("got %q delivery %d, want the abandoned message's second delivery", again.Data(), md.NumDelivered)
	}
	if d := time.Since(abandoned); d > 2*ackWait {
		t.Errorf("redelivered %s after its holder died, want about the ack wait %s", d, ackWait)
	}
}
