// Package consume runs JetStream durable pull consumers with one rule for
// failures: a permanent error terminates the message and dead-letters it on
// serviceping.dlq.<consumer> with the reason; any other error is transient
// and the message is Nak'ed with a growing delay.
package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/streams"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that no retry can fix (undecodable message,
// schema violation). nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// NakDelay is the redelivery delay after the given number of deliveries:
// 1s, 2s, 4s … capped at max.
func NakDelay(deliveries uint64, max time.Duration) time.Duration {
	d := time.Second
	for i := uint64(1); i < deliveries && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// Publisher is the part of jetstream.JetStream that dead-lettering needs.
type Publisher interface {
	Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// DeadLetter publishes msg on the DLQ stream with the reason, then
// terminates it. The DLQ message id makes a repeated dead-lettering of the
// same delivery harmless (streams.DeadLetterMsgID). If the DLQ publish fails the message is left
// un-acked (it will be redelivered) and the error returned.
func DeadLetter(ctx context.Context, js Publisher, consumer string, msg jetstream.Msg, reason error) error {
	dl := &servicepingv1.DeadLetter{
		Consumer: consumer,
		Subject:  msg.Subject(),
		Reason:   reason.Error(),
		FailedAt: timestamppb.Now(),
		Data:     msg.Data(),
		MsgId:    msg.Headers().Get(jetstream.MsgIDHeader),
	}
	var stream string
	if md, err := msg.Metadata(); err == nil {
		dl.StreamSequence = md.Sequence.Stream
		dl.Deliveries = md.NumDelivered
		stream = md.Stream
	}
	data, err := proto.Marshal(dl)
	if err != nil {
		return fmt.Errorf("marshal dead letter: %w", err)
	}
	id := streams.DeadLetterMsgID(stream, consumer, dl.StreamSequence)
	if _, err := js.Publish(ctx, streams.SubjectDLQ(consumer), data, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("publish dead letter for %s seq %d: %w", msg.Subject(), dl.StreamSequence, err)
	}
	if err := msg.Term(); err != nil {
		return fmt.Errorf("terminate dead-lettered message seq %d: %w", dl.StreamSequence, err)
	}
	return nil
}

// Settle acknowledges msg according to err: nil → Ack, permanent → DeadLetter,
// otherwise → Nak. It returns the outcome for metrics ("ack", "dlq",
// "nak") and an error only when the settlement itself failed.
func Settle(ctx context.Context, js Publisher, consumer string, msg jetstream.Msg, err error, maxDelay time.Duration, log *slog.Logger) (string, error) {
	switch {
	case err == nil:
		return "ack", msg.Ack()
	case IsPermanent(err):
		log.Warn("dead-lettering message", "consumer", consumer, "subject", msg.Subject(), "reason", err)
		if dlErr := DeadLetter(ctx, js, consumer, msg, err); dlErr != nil {
			_ = msg.NakWithDelay(maxDelay)
			return "nak", dlErr
		}
		return "dlq", nil
	default:
		return "nak", Nak(msg, maxDelay)
	}
}

// Nak asks for msg to be redelivered after NakDelay of its delivery count
// (capped at maxDelay): the rule for a transient failure, for one message
// (Settle) or every message of a failed batch (the loader).
func Nak(msg jetstream.Msg, maxDelay time.Duration) error {
	var n uint64 = 1
	if md, err := msg.Metadata(); err == nil {
		n = md.NumDelivered
	}
	return msg.NakWithDelay(NakDelay(n, maxDelay))
}
