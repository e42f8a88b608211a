// Package streams is the contract the stages and the operator commands
// share on JetStream (docs/contracts.md, "JetStream" and "Envelopes"): the
// streams, subjects and durable consumers, declared as code and created or
// updated idempotently; the Nats-Msg-Id of every message (msgid.go); the
// names of the enrichment statuses the enriched pings carry (status.go);
// and re-publishing a raw ping for another run through the pipeline
// (republish.go).
package streams

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sethvargo/go-envconfig"
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

// Options are the stream settings, the same for every stream: read from
// the environment (one variable per setting, its default in the tag) by
// every service that connects to NATS. A zero field takes the default of
// its tag. They describe the streams a service creates; an existing stream
// belongs to the operator (Ensure).
type Options struct {
	// Replicas is the number of copies of each stream (3 on a 3-node
	// cluster; 1 on a single server). A service raises an existing stream
	// to it, never lowers one.
	Replicas int `env:"STREAM_REPLICAS, default=1"`
	// MaxAge bounds how long messages are kept for replay.
	MaxAge time.Duration `env:"STREAM_MAX_AGE, default=720h"`
	// MaxBytes caps each stream's size; -1 is unlimited. The oldest
	// messages are discarded past it.
	MaxBytes int64 `env:"STREAM_MAX_BYTES, default=-1"`
	// Duplicates is the Nats-Msg-Id de-duplication window (>= 24h). A
	// service raises an existing stream's shorter window to it, never
	// lowers one.
	Duplicates time.Duration `env:"STREAM_DUPLICATE_WINDOW, default=48h"`
	// Storage is "file" or "memory".
	Storage string `env:"STREAM_STORAGE, default=file"`
	// Compression of the stored messages: "none" or "s2".
	Compression string `env:"STREAM_COMPRESSION, default=none"`
}

// Defaults are the options with the defaults of their tags, as though no
// variable were set.
func Defaults() Options {
	var o Options
	// The tags are constant: a default that does not parse fails
	// TestDefaultsParse, and would leave the field zero here.
	_ = envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &o, Lookuper: envconfig.MapLookuper(nil)})
	return o
}

func (o Options) withDefaults() Options {
	d := Defaults()
	o.Replicas = cmp.Or(o.Replicas, d.Replicas)
	o.MaxAge = cmp.Or(o.MaxAge, d.MaxAge)
	o.MaxBytes = cmp.Or(o.MaxBytes, d.MaxBytes)
	o.Duplicates = cmp.Or(o.Duplicates, d.Duplicates)
	o.Storage = cmp.Or(o.Storage, d.Storage)
	o.Compression = cmp.Or(o.Compression, d.Compression)
	return o
}

// storageTypes are the jetstream storages STREAM_STORAGE names.
func storageTypes() map[string]jetstream.StorageType {
	return map[string]jetstream.StorageType{"file": jetstream.FileStorage, "memory": jetstream.MemoryStorage}
}

// compressions are the jetstream compressions STREAM_COMPRESSION names.
func compressions() map[string]jetstream.StoreCompression {
	return map[string]jetstream.StoreCompression{"none": jetstream.NoCompression, "s2": jetstream.S2Compression}
}

// Validate reports every setting that would break the contract.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if o.Replicas < 1 || o.Replicas > 5 {
		errs = append(errs, fmt.Errorf("STREAM_REPLICAS %d must be within 1..5", o.Replicas))
	}
	if o.Duplicates < 24*time.Hour {
		errs = append(errs, fmt.Errorf("STREAM_DUPLICATE_WINDOW %s is shorter than 24h", o.Duplicates))
	}
	if o.MaxAge < o.Duplicates {
		errs = append(errs, fmt.Errorf("STREAM_MAX_AGE %s is shorter than STREAM_DUPLICATE_WINDOW %s", o.MaxAge, o.Duplicates))
	}
	if o.MaxBytes < -1 {
		errs = append(errs, fmt.Errorf("STREAM_MAX_BYTES %d must be -1 (unlimited) or positive", o.MaxBytes))
	}
	if _, ok := storageTypes()[o.Storage]; !ok {
		errs = append(errs, fmt.Errorf("STREAM_STORAGE %q: want file or memory", o.Storage))
	}
	if _, ok := compressions()[o.Compression]; !ok {
		errs = append(errs, fmt.Errorf("STREAM_COMPRESSION %q: want none or s2", o.Compression))
	}
	return errors.Join(errs...)
}

// Configs returns the stream configurations.
func Configs(o Options) []jetstream.StreamConfig {
	o = o.withDefaults()
	storage := storageTypes()[o.Storage]      // Validate names a bad one
	compress := compressions()[o.Compression] // likewise
	mk := func(name, desc string, subjects ...string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    subjects,
			Storage:     storage,
			Compression: compress,
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

// ErrNotClustered is returned, wrapped, when STREAM_REPLICAS asks for
// more than one replica of a stream on a server that is not part of a
// JetStream cluster: a configuration error no retry fixes.
var ErrNotClustered = errors.New("STREAM_REPLICAS above 1 needs a JetStream cluster; this server is not clustered")

// errCodeReplicasNotSupported is the JetStream API's error code for
// replicas above 1 on a server that is not clustered.
const errCodeReplicasNotSupported jetstream.ErrorCode = 10074

// Ensure is EnsureWithLog without a log, for tests and tools that create
// the streams of a fresh server.
func Ensure(ctx context.Context, js jetstream.JetStream, o Options) error {
	return EnsureWithLog(ctx, js, o, nil)
}

// EnsureWithLog creates every missing stream with the options, and brings an
// existing one up to what the pipeline needs without undoing what an
// operator set: it adds missing subjects and raises replicas and the
// duplicate window to the options, never lowering them; any other setting
// that differs (max age, max bytes, storage, compression, and replicas or
// a window above the options) is kept and logged on log (nil: not logged).
// Safe to call from every service at start, from many replicas at once.
func EnsureWithLog(ctx context.Context, js jetstream.JetStream, o Options, log *slog.Logger) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("stream options: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, want := range Configs(o) {
		if err := ensure(ctx, js, want, log); err != nil {
			return err
		}
	}
	return nil
}

func ensure(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig, log *slog.Logger) error {
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, want)
		if err == nil {
			log.Info("stream created", "stream", want.Name, "replicas", want.Replicas)
			return nil
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream %s: %w", want.Name, notClustered(err))
		}
		s, err = js.Stream(ctx, want.Name) // another service created it first
	}
	if err != nil {
		return fmt.Errorf("look up stream %s: %w", want.Name, err)
	}
	next, changed := Reconcile(s.CachedInfo().Config, want, log)
	if !changed {
		return nil
	}
	if _, err := js.UpdateStream(ctx, next); err != nil {
		return fmt.Errorf("update stream %s: %w", want.Name, notClustered(err))
	}
	log.Info("stream updated", "stream", want.Name, "replicas", next.Replicas, "subjects", next.Subjects, "duplicate_window", next.Duplicates)
	return nil
}

// notClustered adds ErrNotClustered to the error of a server refusing
// replicas because it is not clustered.
func notClustered(err error) error {
	var api *jetstream.APIError
	if errors.As(err, &api) && api.ErrorCode == errCodeReplicasNotSupported {
		return fmt.Errorf("%w: %w", ErrNotClustered, err)
	}
	return err
}

// Reconcile returns cur brought up to want as Ensure does, and whether
// that changed anything; each setting of cur kept although it differs from
// want is logged once on log, with the variable that configures it.
func Reconcile(cur, want jetstream.StreamConfig, log *slog.Logger) (jetstream.StreamConfig, bool) {
	next, changed := cur, false
	keep := func(variable string, current, configured any) {
		log.Info("stream setting differs from the configuration; the stream keeps its own",
			"stream", cur.Name, "variable", variable, "stream_value", current, "configured", configured)
	}
	for _, subj := range want.Subjects {
		if !slices.Contains(next.Subjects, subj) {
			next.Subjects = append(slices.Clip(next.Subjects), subj)
			changed = true
		}
	}
	switch {
	case cur.Replicas < want.Replicas:
		next.Replicas, changed = want.Replicas, true
	case cur.Replicas > want.Replicas:
		keep("STREAM_REPLICAS", cur.Replicas, want.Replicas)
	}
	switch {
	case cur.Duplicates > want.Duplicates:
		keep("STREAM_DUPLICATE_WINDOW", cur.Duplicates, want.Duplicates)
	case cur.Duplicates < want.Duplicates:
		window := want.Duplicates
		if cur.MaxAge > 0 {
			window = min(window, cur.MaxAge) // the server refuses a window past the max age
		}
		if cur.Duplicates < window {
			next.Duplicates, changed = window, true
		}
		if window < want.Duplicates {
			keep("STREAM_DUPLICATE_WINDOW", next.Duplicates, want.Duplicates)
		}
	}
	if cur.MaxAge != want.MaxAge {
		keep("STREAM_MAX_AGE", cur.MaxAge, want.MaxAge)
	}
	if cur.MaxBytes != want.MaxBytes {
		keep("STREAM_MAX_BYTES", cur.MaxBytes, want.MaxBytes)
	}
	if cur.Storage != want.Storage {
		keep("STREAM_STORAGE", cur.Storage.String(), want.Storage.String())
	}
	if cur.Compression != want.Compression {
		keep("STREAM_COMPRESSION", cur.Compression.String(), want.Compression.String())
	}
	return next, changed
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

// EnsureConsumer creates or updates a durable consumer on stream. A
// transient failure — a timeout, no JetStream leader yet, a cluster
// temporarily unavailable, a connection being re-established, as when
// several replicas of a service start together or a node goes away — is
// retried with a growing delay until ctx ends; any other error is returned
// at once.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	delay := 100 * time.Millisecond
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := js.CreateOrUpdateConsumer(attemptCtx, stream, cfg)
		cancel()
		if err == nil {
			return c, nil
		}
		if !transient(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("create or update consumer %s on %s: %w", cfg.Durable, stream, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("create or update consumer %s on %s: %w (last error: %w)", cfg.Durable, stream, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// transient reports whether a JetStream API call failed in a way a retry
// may not: no answer in time, no responder, a lost connection, or the
// server's 503 (cluster or resources temporarily unavailable).
func transient(err error) bool {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected):
		return true
	case errors.As(err, &api):
		return api.Code == 503
	}
	return false
}
