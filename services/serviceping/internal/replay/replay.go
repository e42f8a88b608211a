// Package replay sends the raw pings kept in the PINGS stream through the
// pipeline again — after a fix in the enricher or the loader, say. Each
// ping is re-published once under a replay id, so JetStream's duplicate
// window does not drop it; the enricher enriches it anew and the warehouse
// keeps the newer rows (ReplacingMergeTree by version), so a replay changes
// what is stored about a ping, never how many times it is stored.
package replay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/streams"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

// Options of a replay.
type Options struct {
	// Since is the earliest stream time replayed (zero: the whole stream).
	Since time.Time
	// ID names the replay; it must differ between replays.
	ID string
	// DryRun counts what would be replayed without publishing.
	DryRun bool
}

// Result says what a replay did.
type Result struct {
	// Pings is the number of distinct pings (re-)published.
	Pings int
	// Skipped counts stream messages that were copies of a ping already
	// seen in this replay (resubmissions, earlier re-enrichments).
	Skipped int
	// Undecodable counts messages that are not raw-ping envelopes (the
	// enricher dead-lettered them when they first arrived).
	Undecodable int
}

// Raw re-publishes every distinct ping of serviceping.pings.raw stored
// since o.Since. It reads the stream with an ephemeral ordered consumer up
// to the last message present when it started, so pings arriving meanwhile
// (including its own re-publications) are not replayed again.
func Raw(ctx context.Context, js jetstream.JetStream, o Options) (Result, error) {
	if o.ID == "" {
		return Result{}, errors.New("replay: an id is required")
	}
	s, err := js.Stream(ctx, streams.Pings)
	if err != nil {
		return Result{}, fmt.Errorf("replay: open stream %s: %w", streams.Pings, err)
	}
	last := s.CachedInfo().State.LastSeq
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{streams.SubjectRaw}}
	if !o.Since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &o.Since
	}
	cons, err := js.OrderedConsumer(ctx, streams.Pings, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("replay: read stream %s: %w", streams.Pings, err)
	}
	var res Result
	seen := map[string]bool{}
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return res, fmt.Errorf("replay: fetch: %w", err)
		}
		got, done := 0, false
		for msg := range batch.Messages() {
			got++
			md, err := msg.Metadata()
			if err != nil {
				return res, fmt.Errorf("replay: message metadata: %w", err)
			}
			if md.Sequence.Stream > last {
				done = true
				break
			}
			var raw servicepingv1.RawPing
			if err := proto.Unmarshal(msg.Data(), &raw); err != nil || raw.PingId == "" {
				res.Undecodable++
			} else if seen[raw.PingId] {
				res.Skipped++
			} else {
				seen[raw.PingId] = true
				res.Pings++
				if !o.DryRun {
					if err := streams.Republish(ctx, js, &raw, o.ID); err != nil {
						return res, err
					}
				}
			}
			if md.Sequence.Stream == last || md.NumPending == 0 {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return res, fmt.Errorf("replay: fetch: %w", err)
		}
		if done || got == 0 {
			return res, nil
		}
	}
}
