package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
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
	// MaxDeliver is how many times a message is tried before it goes to the DLQ.
	MaxDeliver int
	// AckWait is how long a delivered message may stay unacked before redelivery.
	AckWait time.Duration
	// Workers handle messages concurrently (Consume only).
	Workers int
	// DrainTimeout bounds how long in-flight work may continue after shutdown begins.
	DrainTimeout time.Duration
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
	return nil
}

// Ensure creates or updates the durable consumer on the server.
func (c ConsumerConfig) Ensure(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, c.Stream, jetstream.ConsumerConfig{
		Durable:        c.Durable,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		FilterSubjects: c.FilterSubjects,
		MaxAckPending:  c.MaxAckPending,
		MaxDeliver:     c.MaxDeliver,
		AckWait:        c.AckWait,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", c.Durable, c.Stream, err)
	}
	return cons, nil
}

// prefetchBytes bounds what a consumer buffers ahead of its handlers: well below the NATS
// client's 64 MiB pending limit (overflowing it stalls the consumer until AckWait) and
// above the largest message (1 MiB by default).
const prefetchBytes = 16 << 20

// Handler processes one message. It returns nil when the message's effect is durable,
// a Permanent error when retrying cannot help, any other error to retry later.
type Handler func(ctx context.Context, msg jetstream.Msg) error

// Consumer runs a handler over a durable consumer.
type Consumer struct {
	js     jetstream.JetStream
	cfg    ConsumerConfig
	tracer trace.Tracer
	dlq    *DeadLetters
	log    *slog.Logger
}

// NewConsumer prepares a consumer loop; tracer starts the per-message spans.
func NewConsumer(js jetstream.JetStream, cfg ConsumerConfig, tracer trace.Tracer, log *slog.Logger) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Consumer{js: js, cfg: cfg, tracer: tracer, dlq: NewDeadLetters(js, cfg.Stage), log: log}, nil
}

// DeadLetters gives handlers the stage's DLQ publisher, e.g. for single bad rows.
func (c *Consumer) DeadLetters() *DeadLetters { return c.dlq }

// Run delivers messages to h with cfg.Workers goroutines until ctx ends. Then it stops
// fetching, lets in-flight handlers finish within DrainTimeout (their context outlives ctx
// by that much), naks what was fetched but not started, and returns.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	cons, err := c.cfg.Ensure(ctx, c.js)
	if err != nil {
		return err
	}
	if unregister, err := ExportLag(cons, c.cfg.Stream, c.cfg.Durable); err == nil {
		defer unregister()
	}
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(2*c.cfg.Workers, prefetchBytes))
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.cfg.Durable, err)
	}
	work, stopWork := WorkContext(ctx, c.cfg.DrainTimeout)
	defer stopWork()
	stopDrain := context.AfterFunc(ctx, it.Drain)
	defer stopDrain()

	msgs := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msg := range msgs {
				c.handle(work, msg, h)
			}
		}()
	}
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				break
			}
			if ctx.Err() != nil {
				break
			}
			c.log.Warn("consumer fetch", "consumer", c.cfg.Durable, "err", err)
			continue
		}
		if ctx.Err() != nil {
			// Fetched during shutdown: give it back now rather than after AckWait.
			_ = msg.Nak()
			continue
		}
		msgs <- msg
	}
	close(msgs)
	wg.Wait()
	it.Stop()
	return nil
}

// WorkContext returns a context that outlives ctx by drain, so work in flight can finish
// after shutdown begins.
func WorkContext(ctx context.Context, drain time.Duration) (context.Context, context.CancelFunc) {
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

func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg, h Handler) {
	ctx, span := StartSpan(ctx, c.tracer, c.cfg.Stage, msg)
	defer span.End()
	err := h(ctx, msg)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	Settle(ctx, msg, err, c.cfg.MaxDeliver, c.dlq, c.log)
}

// Settle acks, naks or dead-letters msg according to the handler's err: nil acks;
// a Permanent error, or any error on the last allowed delivery, sends the message to the
// DLQ with the reason and terminates it; other errors nak with a backoff that grows with
// the delivery count. A message whose DLQ publish fails is nakked, never lost.
func Settle(ctx context.Context, msg jetstream.Msg, err error, maxDeliver int, dlq *DeadLetters, log *slog.Logger) {
	if err == nil {
		if aerr := msg.Ack(); aerr != nil {
			log.WarnContext(ctx, "ack failed; the message will be redelivered", "subject", msg.Subject(), "err", aerr)
		}
		return
	}
	delivered := uint64(1)
	if md, merr := msg.Metadata(); merr == nil {
		delivered = md.NumDelivered
	}
	if ctx.Err() != nil && !IsPermanent(err) {
		// Shutting down: hand the message back at once.
		_ = msg.Nak()
		return
	}
	if IsPermanent(err) || delivered >= uint64(maxDeliver) {
		reason := err.Error()
		if derr := dlq.Message(ctx, msg, reason); derr != nil {
			log.ErrorContext(ctx, "dead-letter failed; retrying the message", "subject", msg.Subject(), "reason", reason, "err", derr)
			_ = msg.NakWithDelay(RetryDelay(delivered))
			return
		}
		log.WarnContext(ctx, "message dead-lettered", "subject", msg.Subject(), "record_id", msg.Headers().Get(HeaderRecordID), "deliveries", delivered, "reason", reason)
		_ = msg.TermWithReason(truncate(reason, 200))
		return
	}
	log.InfoContext(ctx, "message failed, will retry", "subject", msg.Subject(), "deliveries", delivered, "err", err)
	_ = msg.NakWithDelay(RetryDelay(delivered))
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
