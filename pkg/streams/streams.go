// Package streams is the contract the stages and the operator commands
// share on JetStream (docs/contracts.md, "JetStream" and "Envelopes"): the
// streams, subjects and durable consumers, declared as code and created or
// updated idempotently; the Nats-Msg-Id of every message (msgid.go); the
// names of the enrichment statuses the enriched pings carry (status.go);
// and re-publishing a raw ping for another run through the pipeline
// (republish.go).
package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names.
const (
	Pings   = "PINGS"
	Reports = "REPORTS"
	CRM     = "CRM"
	DLQ     = "DLQ"
)

// Subjects.
const (
	SubjectRaw      = "serviceping.pings.raw"
	SubjectEnriched = "serviceping.pings.enriched"
	SubjectErrors   = "serviceping.reports.errors"
	SubjectMetadata = "serviceping.reports.metadata"
	SubjectCRMUsage = "serviceping.crm.usage"
	// SubjectDLQPrefix is followed by the consumer name: serviceping.dlq.loader
	// (SubjectDLQ).
	SubjectDLQPrefix = "serviceping.dlq."
)

// SubjectDLQ is the subject consumer's dead letters are published on.
func SubjectDLQ(consumer string) string { return SubjectDLQPrefix + consumer }

// Durable consumer names.
const (
	ConsumerEnricher = "enricher"
	ConsumerLoader   = "loader"
	// ConsumerCRM delivers the queued account usage (CRM stream) to the CRM.
	ConsumerCRM = "crm"
)

// Options tune the streams; the zero value is replaced by Defaults.
type Options struct {
	// MaxAge bounds how long messages are kept for replay.
	MaxAge time.Duration
	// Duplicates is the Nats-Msg-Id de-duplication window (>= 24h).
	Duplicates time.Duration
	// Replicas for clustered JetStream (1 when embedded).
	Replicas int
	// MaxBytes caps each stream's size; -1 is unlimited.
	MaxBytes int64
}

// Defaults are the production defaults: 30 days of replay, a 48 h duplicate window.
func Defaults() Options {
	return Options{MaxAge: 30 * 24 * time.Hour, Duplicates: 48 * time.Hour, Replicas: 1, MaxBytes: -1}
}

func (o Options) withDefaults() Options {
	d := Defaults()
	if o.MaxAge == 0 {
		o.MaxAge = d.MaxAge
	}
	if o.Duplicates == 0 {
		o.Duplicates = d.Duplicates
	}
	if o.Replicas == 0 {
		o.Replicas = d.Replicas
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = d.MaxBytes
	}
	return o
}

// Validate reports options that would break the contract.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if o.Duplicates < 24*time.Hour {
		errs = append(errs, fmt.Errorf("duplicate window %s is shorter than 24h", o.Duplicates))
	}
	if o.MaxAge < o.Duplicates {
		errs = append(errs, fmt.Errorf("max age %s is shorter than the duplicate window %s", o.MaxAge, o.Duplicates))
	}
	return errors.Join(errs...)
}

// Configs returns the stream configurations.
func Configs(o Options) []jetstream.StreamConfig {
	o = o.withDefaults()
	mk := func(name, desc string, subjects ...string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    subjects,
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      o.MaxAge,
			MaxBytes:    o.MaxBytes,
			Duplicates:  o.Duplicates,
			Replicas:    o.Replicas,
		}
	}
	return []jetstream.StreamConfig{
		mk(Pings, "Service Pings: raw from the gateway, enriched from the enricher", SubjectRaw, SubjectEnriched),
		mk(Reports, "Collection error reports and per-metric timings", SubjectErrors, SubjectMetadata),
		mk(CRM, "Account usage pushed to the CRM", "serviceping.crm.>"),
		mk(DLQ, "Messages a consumer gave up on, with the reason", SubjectDLQPrefix+">"),
	}
}

// Ensure creates or updates every stream; safe to call from every service at start.
func Ensure(ctx context.Context, js jetstream.JetStream, o Options) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("stream options: %w", err)
	}
	for _, cfg := range Configs(o) {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// ConsumerOptions tune a durable pull consumer.
type ConsumerOptions struct {
	// AckWait must exceed the longest time a message may be held (e.g. a loader batch).
	AckWait time.Duration
	// MaxAckPending bounds unacknowledged messages in flight.
	MaxAckPending int
	// MaxDeliver bounds redeliveries; -1 is unlimited (transient errors retry forever).
	MaxDeliver int
}

// Consumer returns the config of a durable explicit-ack pull consumer filtered to subjects.
func Consumer(name string, o ConsumerOptions, subjects ...string) jetstream.ConsumerConfig {
	if o.AckWait == 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MaxAckPending == 0 {
		o.MaxAckPending = 1000
	}
	if o.MaxDeliver == 0 {
		o.MaxDeliver = -1
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       o.AckWait,
		MaxAckPending: o.MaxAckPending,
		MaxDeliver:    o.MaxDeliver,
	}
	if len(subjects) == 1 {
		cfg.FilterSubject = subjects[0]
	} else {
		cfg.FilterSubjects = subjects
	}
	return cfg
}

// EnsureConsumer creates or updates a durable consumer on stream.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("create or update consumer %s on %s: %w", cfg.Durable, stream, err)
	}
	return c, nil
}
