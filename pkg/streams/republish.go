package streams

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

// Republish publishes raw again on serviceping.pings.raw for another run
// through the enricher and the loader (serviceping reenrich and replay): a
// copy with reenrich_id = runID, under RawMsgID(ping_id, runID), so
// JetStream's duplicate window does not drop it and the enriched ping it
// yields is new too. Use one runID per operator run; publishing the same
// ping twice within one run is deduplicated.
func Republish(ctx context.Context, js jetstream.JetStream, raw *servicepingv1.RawPing, runID string) error {
	if raw.GetPingId() == "" {
		return errors.New("republish: raw ping has no ping_id")
	}
	if runID == "" {
		return fmt.Errorf("republish ping %s: empty reenrich id", raw.PingId)
	}
	c := proto.CloneOf(raw)
	c.ReenrichId = runID
	data, err := proto.Marshal(c)
	if err != nil {
		return fmt.Errorf("republish ping %s: marshal: %w", raw.PingId, err)
	}
	if _, err := js.Publish(ctx, SubjectRaw, data, jetstream.WithMsgID(RawMsgID(raw.PingId, runID))); err != nil {
		return fmt.Errorf("republish ping %s: %w", raw.PingId, err)
	}
	return nil
}
