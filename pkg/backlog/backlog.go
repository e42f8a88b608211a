// Package backlog exports how far behind the durable consumers are, read
// from JetStream at each scrape: messages not yet delivered, delivered but
// not acknowledged, and the age of the oldest message not acknowledged —
// the figure an operator alerts on ("pings wait for more than a minute").
// Each stage registers the collector for its own consumers.
package backlog

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Consumer names a durable consumer of a stream.
type Consumer struct {
	Stream, Name string
}

var (
	pendingDesc = prometheus.NewDesc("serviceping_consumer_pending_messages",
		"Messages of the stream the consumer has not been delivered yet.", []string{"stream", "consumer"}, nil)
	ackPendingDesc = prometheus.NewDesc("serviceping_consumer_ack_pending_messages",
		"Messages delivered to the consumer and not acknowledged yet.", []string{"stream", "consumer"}, nil)
	oldestDesc = prometheus.NewDesc("serviceping_consumer_oldest_unacked_age_seconds",
		"Age of the oldest message the consumer has not acknowledged (0 when it is caught up).", []string{"stream", "consumer"}, nil)
)

// scrapeTimeout bounds one scrape's requests to JetStream.
const scrapeTimeout = 3 * time.Second

// Collector reads the consumers' state at each scrape. It describes no
// metrics up front (an unchecked collector), so the stages of the
// all-in-one each register one for their own consumers in one registry.
type Collector struct {
	js        jetstream.JetStream
	consumers []Consumer
	now       func() time.Time
}

// New returns the collector of consumers.
func New(js jetstream.JetStream, consumers ...Consumer) *Collector {
	return &Collector{js: js, consumers: consumers, now: time.Now}
}

// Describe sends nothing: see Collector.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads each consumer; one that cannot be read (NATS away, the
// consumer not created yet) is left out of this scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for _, cons := range c.consumers {
		b, err := c.Read(ctx, cons)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(b.Pending), cons.Stream, cons.Name)
		ch <- prometheus.MustNewConstMetric(ackPendingDesc, prometheus.GaugeValue, float64(b.AckPending), cons.Stream, cons.Name)
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, b.OldestUnacked.Seconds(), cons.Stream, cons.Name)
	}
}

// Backlog is a consumer's state.
type Backlog struct {
	Pending, AckPending uint64
	// OldestUnacked is the age of the first message after the consumer's
	// ack floor that its filter selects; 0 when nothing is pending.
	OldestUnacked time.Duration
}

// Read reads one consumer's backlog.
func (c *Collector) Read(ctx context.Context, cons Consumer) (Backlog, error) {
	consumer, err := c.js.Consumer(ctx, cons.Stream, cons.Name)
	if err != nil {
		return Backlog{}, err
	}
	info, err := consumer.Info(ctx)
	if err != nil {
		return Backlog{}, err
	}
	b := Backlog{Pending: info.NumPending, AckPending: uint64(info.NumAckPending)}
	if b.Pending == 0 && b.AckPending == 0 {
		return b, nil
	}
	stream, err := c.js.Stream(ctx, cons.Stream)
	if err != nil {
		return Backlog{}, err
	}
	// The first message after the ack floor that the consumer's filter
	// selects. With several filters, the first of any subject stands for
	// them (the pipeline's consumers with several filters take every
	// subject of their stream).
	subject := ">"
	if info.Config.FilterSubject != "" {
		subject = info.Config.FilterSubject
	} else if len(info.Config.FilterSubjects) == 1 {
		subject = info.Config.FilterSubjects[0]
	}
	msg, err := stream.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return b, nil // acknowledged meanwhile, or removed by the stream's limits
	}
	if err != nil {
		return Backlog{}, err
	}
	b.OldestUnacked = max(0, c.now().Sub(msg.Time))
	return b, nil
}
