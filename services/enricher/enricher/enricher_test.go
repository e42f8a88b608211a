package enricher_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/enricher/enricher"
)

func testConfig() enricher.Config {
	return enricher.Config{Workers: 2, AckWait: 5 * time.Second, MaxAckPending: 64, NakMaxDelay: time.Second, PublishTimeout: 2 * time.Second}
}

// start runs an enricher against a fresh embedded JetStream.
func start(t *testing.T) jetstream.JetStream {
	t.Helper()
	js := bus(t)
	run(t, js, testConfig(), nil)
	return js
}

func rawPing(t *testing.T, payload []byte, uuid, recordedAt string) []byte {
	t.Helper()
	id := ping.ID(uuid, recordedAt)
	udi, err := ping.UsageDataID(id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&servicepingv1.RawPing{
		PingId: id, UsageDataId: udi, Uuid: uuid, RecordedAt: recordedAt,
		ReceivedAt: timestamppb.New(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)),
		Payload:    payload, Source: "api",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitCount polls until subject holds want messages in stream.
func waitCount(t *testing.T, js jetstream.JetStream, stream, subject string, want uint64) {
	t.Helper()
	ctx := context.Background()
	testinfra.Eventually(t, 15*time.Second, fmt.Sprintf("%d messages on %s", want, subject), func() error {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			t.Fatal(err)
		}
		got := info.State.Subjects[subject]
		if got > want {
			t.Fatalf("%s holds %d messages, want %d", subject, got, want)
		}
		if got < want {
			return fmt.Errorf("%s holds %d messages", subject, got)
		}
		return nil
	})
}

func TestEnrichesGeneratedPings(t *testing.T) {
	t.Parallel()
	js := start(t)
	ctx := context.Background()
	g, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	want := map[string]pinggen.Instance{}
	for i := range n {
		inst := pinggen.InstanceOf(i)
		rec := pinggen.RecordedAt(0, i)
		b := rawPing(t, g.JSON(pinggen.Spec{Instance: i}), inst.UUID, rec)
		id := ping.ID(inst.UUID, rec)
		want[id] = inst
		// Publish every raw ping twice, the second time without a message
		// id (as a redelivery would look): one enriched ping each. The
		// first carries the gateway's id, which the enriched message must
		// not collide with on the shared PINGS stream.
		if _, err := js.Publish(ctx, streams.SubjectRaw, b, jetstream.WithMsgID(streams.RawMsgID(id, ""))); err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, streams.SubjectRaw, b); err != nil {
			t.Fatal(err)
		}
	}
	waitCount(t, js, streams.Pings, streams.SubjectEnriched, n)

	cons, err := js.OrderedConsumer(ctx, streams.Pings, jetstream.OrderedConsumerConfig{FilterSubjects: []string{streams.SubjectEnriched}})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(n)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for msg := range batch.Messages() {
		var ep servicepingv1.EnrichedPing
		if err := proto.Unmarshal(msg.Data(), &ep); err != nil {
			t.Fatal(err)
		}
		inst, ok := want[ep.PingId]
		if !ok {
			t.Fatalf("unexpected ping %s", ep.PingId)
		}
		if got := msg.Headers().Get(jetstream.MsgIDHeader); got != streams.EnrichedMsgID(ep.PingId, "") {
			t.Errorf("Nats-Msg-Id = %q, want %q", got, streams.EnrichedMsgID(ep.PingId, ""))
		}
		in := ep.GetInstance()
		if in.GetUuid() != inst.UUID || in.GetHostname() != inst.Hostname || in.GetEdition() != inst.Edition || in.GetVersion() != inst.Version {
			t.Errorf("instance fields = %v, want %+v", in, inst)
		}
		if in.GetActiveUserCount() != inst.Users || !in.GetHasActiveUserCount() {
			t.Errorf("active_user_count = %d, want %d", in.GetActiveUserCount(), inst.Users)
		}
		if ep.GetLicense().GetMd5() != inst.LicenseMD5 || ep.GetLicense().GetPlan() != inst.Plan {
			t.Errorf("license = %v, want md5 %q plan %q", ep.GetLicense(), inst.LicenseMD5, inst.Plan)
		}
		if ep.GetEnrichment().GetStatus() != servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_SKIPPED {
			t.Errorf("enrichment status = %v", ep.GetEnrichment().GetStatus())
		}
		if len(ep.Payload) < 100_000 {
			t.Errorf("payload shrank to %d bytes", len(ep.Payload))
		}
		seen++
	}
	if seen != n {
		t.Fatalf("read %d enriched pings, want %d", seen, n)
	}
}

func TestUndecodableGoesToDLQWithReason(t *testing.T) {
	t.Parallel()
	js := start(t)
	ctx := context.Background()
	bad := map[string][]byte{
		"not protobuf":     []byte("\xff\xff\xff not a protobuf"),
		"payload not json": rawPing(t, []byte("{oops"), "u1", "2026-01-01 00:00:00 UTC"),
		"no recorded_at":   rawPing(t, []byte(`{"uuid":"u2"}`), "u2", "x"),
	}
	for name, b := range bad {
		if _, err := js.Publish(ctx, streams.SubjectRaw, b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	good := rawPing(t, []byte(`{"uuid":"u3","recorded_at":"2026-01-01 00:00:00 UTC","version":"18.0.0"}`), "u3", "2026-01-01 00:00:00 UTC")
	if _, err := js.Publish(ctx, streams.SubjectRaw, good); err != nil {
		t.Fatal(err)
	}
	waitCount(t, js, streams.Pings, streams.SubjectEnriched, 1)
	waitCount(t, js, streams.DLQ, streams.SubjectDLQPrefix+streams.ConsumerEnricher, uint64(len(bad)))

	cons, err := js.OrderedConsumer(ctx, streams.DLQ, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(10)
	if err != nil {
		t.Fatal(err)
	}
	for msg := range batch.Messages() {
		var dl servicepingv1.DeadLetter
		if err := proto.Unmarshal(msg.Data(), &dl); err != nil {
			t.Fatal(err)
		}
		if dl.Reason == "" || dl.Consumer != streams.ConsumerEnricher || dl.Subject != streams.SubjectRaw || len(dl.Data) == 0 {
			t.Errorf("dead letter lacks context: %+v", &dl)
		}
	}
	// Every dead-lettered message was terminated: nothing is pending.
	c, err := js.Consumer(ctx, streams.Pings, streams.ConsumerEnricher)
	if err != nil {
		t.Fatal(err)
	}
	testinfra.Eventually(t, 10*time.Second, "every dead letter terminated", func() error {
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending != 0 || info.NumPending != 0 {
			return fmt.Errorf("consumer still has %d ack-pending, %d pending", info.NumAckPending, info.NumPending)
		}
		return nil
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := testConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	bad := enricher.Config{Workers: 0, AckWait: 0, MaxAckPending: 0, PublishTimeout: 0}
	testinfra.ErrorSays(t, "Validate of an invalid config", bad.Validate(), "ENRICHER_WORKERS", "ENRICHER_ACK_WAIT", "ENRICHER_PUBLISH_TIMEOUT", "ENRICHER_NAK_MAX_DELAY")
}
