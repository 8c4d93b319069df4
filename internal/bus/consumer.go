package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-dev/sluice/internal/telemetry"
)

// ConsumerConfig describes a durable pull consumer and how its messages are handled.
type ConsumerConfig struct {
	Stream         string
	Durable        string
	FilterSubjects []string
	// Stage names the step for spans and DLQ subjects ("stage", "transform", "load").
	Stage string
	// MaxAckPending bounds messages delivered and not yet acked: the backpressure.
	MaxAckPending int
	// MaxDeliver is how many failed attempts a message gets before it goes to the DLQ, and
	// how many deliveries may end unsettled (the consumer crashed) before it does. Hand-backs
	// at shutdown and holds during an outage do not count.
	MaxDeliver int
	// AckWait is how long a delivered message may stay unacked before redelivery; the
	// consumer marks the messages it holds as in progress well within it.
	AckWait time.Duration
	// Workers handle messages concurrently (Run only).
	Workers int
	// DrainTimeout bounds how long in-flight work may continue after shutdown begins.
	DrainTimeout time.Duration
	// Targets are the dependencies whose outage pauses the stage (NATS is always one).
	Targets []Target
}

// Validate names the wrong field.
func (c ConsumerConfig) Validate() error {
	switch {
	case c.Stream == "" || c.Durable == "":
		return errors.New("consumer: stream and durable name are required")
	case c.Stage == "":
		return errors.New("consumer: stage is required")
	case c.MaxAckPending < 1:
		return fmt.Errorf("consumer %s: max ack pending %d: must be at least 1", c.Durable, c.MaxAckPending)
	case c.MaxDeliver < 1:
		return fmt.Errorf("consumer %s: max deliver %d: must be at least 1", c.Durable, c.MaxDeliver)
	case c.AckWait < time.Second:
		return fmt.Errorf("consumer %s: ack wait %v: must be at least 1s", c.Durable, c.AckWait)
	case c.Workers < 1:
		return fmt.Errorf("consumer %s: workers %d: must be at least 1", c.Durable, c.Workers)
	case c.DrainTimeout <= 0:
		return fmt.Errorf("consumer %s: drain timeout must be positive", c.Durable)
	}
	for _, t := range c.Targets {
		if t.Name == "" || t.Check == nil {
			return fmt.Errorf("consumer %s: a target needs a name and a check", c.Durable)
		}
	}
	return nil
}

// Ensure creates or updates the durable consumer on the server. The server never gives up
// on a message (MaxDeliver -1): JetStream would drop it silently. The retry budget is
// sluice's own (see BucketDeliveries), which ends in the DLQ with a reason.
func (c ConsumerConfig) Ensure(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, c.Stream, jetstream.ConsumerConfig{
		Durable:        c.Durable,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		FilterSubjects: c.FilterSubjects,
		MaxAckPending:  c.MaxAckPending,
		MaxDeliver:     -1,
		AckWait:        c.AckWait,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", c.Durable, c.Stream, err)
	}
	return cons, nil
}

// prefetchBytes bounds what a consumer fetches ahead of its handlers: well below the NATS
// client's 64 MiB pending limit and above the largest message (1 MiB by default).
const prefetchBytes = 16 << 20

// Handler processes one message. It returns nil when the message's effect is durable, a
// Permanent error when retrying cannot help, an Unavailable error when a dependency is
// down, any other error to retry later.
type Handler func(ctx context.Context, msg jetstream.Msg) error

// Consumer runs handlers over a durable consumer. Every message it fetches ends in exactly
// one of: acked after its handler succeeded; dead-lettered with the reason (permanent
// error, retry budget spent, or it kept crashing the consumer), then terminated; naked with
// a backoff after a failure, counted; handed back at shutdown, not counted; or held while
// a dependency is down and tried again when it returns.
type Consumer struct {
	js      jetstream.JetStream
	cfg     ConsumerConfig
	targets []Target
	tracer  trace.Tracer
	dlq     *DeadLetters
	log     *slog.Logger
	gate    *gate
	held    *tracker
	ledger  *ledger
	running atomic.Bool
	// fetchErr is the last failure to fetch, nil once fetching works again.
	fetchErr atomic.Pointer[error]
}

// NewConsumer prepares a consumer loop; tracer starts the per-message spans.
func NewConsumer(js jetstream.JetStream, cfg ConsumerConfig, tracer trace.Tracer, log *slog.Logger) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = log.With("consumer", cfg.Durable)
	targets := append([]Target{{Name: "nats", Check: natsCheck(js)}}, cfg.Targets...)
	return &Consumer{js: js, cfg: cfg, targets: targets, tracer: tracer, dlq: NewDeadLetters(js, cfg.Stage), log: log,
		gate: newGate(cfg.Durable, log), held: newTracker()}, nil
}

// DeadLetters gives handlers the stage's DLQ publisher, e.g. for single bad rows.
func (c *Consumer) DeadLetters() *DeadLetters { return c.dlq }

// Ready is the consumer's readiness check: an error while its loop is not running, while
// it waits for a dependency, or while it cannot fetch.
func (c *Consumer) Ready(context.Context) error {
	if !c.running.Load() {
		return fmt.Errorf("consumer %s is not running", c.cfg.Durable)
	}
	if err := c.gate.err(); err != nil {
		return err
	}
	if p := c.fetchErr.Load(); p != nil {
		return fmt.Errorf("consumer %s cannot fetch: %w", c.cfg.Durable, *p)
	}
	return nil
}

func natsCheck(js jetstream.JetStream) func(context.Context) error {
	return func(ctx context.Context) error {
		if nc := js.Conn(); !nc.IsConnected() {
			return fmt.Errorf("nats: %s", nc.Status())
		}
		_, err := js.AccountInfo(ctx)
		return err
	}
}

// workContext returns a context that outlives ctx by drain, so work in flight can finish
// after shutdown begins.
func workContext(ctx context.Context, drain time.Duration) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(drain, cancel)
		<-work.Done()
		t.Stop()
	})
	return work, func() { stop(); cancel() }
}

// StartSpan continues the trace carried by msg with a consumer span named after the stage.
func StartSpan(ctx context.Context, tracer trace.Tracer, stage string, msg jetstream.Msg) (context.Context, trace.Span) {
	ctx = telemetry.Extract(ctx, msg.Headers())
	attrs := []attribute.KeyValue{
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", msg.Subject()),
	}
	if id := msg.Headers().Get(HeaderRecordID); id != "" {
		attrs = append(attrs, attribute.String("sluice.record_id", id))
	}
	return tracer.Start(ctx, stage, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
}

// RetryDelay is the redelivery delay after the n-th failed delivery: 1s, 2s, 4s … 60s.
func RetryDelay(n uint64) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 7 {
		return time.Minute
	}
	return min(time.Second<<(n-1), time.Minute)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
