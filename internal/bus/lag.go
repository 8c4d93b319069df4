package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// ExportLag publishes the consumer's backlog as gauges, read from the server at most once
// per second: sluice.consumer.pending (messages not yet delivered: the lag),
// sluice.consumer.ack_pending (delivered, not yet acked) and sluice.consumer.redelivered.
// Attributes follow the messaging semantic conventions: messaging.system "nats",
// messaging.destination.name the stream, messaging.consumer.group.name the durable
// consumer that all replicas of a service share.
// It uses the global meter provider that telemetry.Setup installs.
func ExportLag(cons jetstream.Consumer, stream, durable string) (func(), error) {
	m := otel.GetMeterProvider().Meter("github.com/sluice-dev/sluice/internal/bus")
	pending, err := m.Int64ObservableGauge("sluice.consumer.pending", metric.WithUnit("{message}"),
		metric.WithDescription("messages in the stream not yet delivered to the consumer (its lag)"))
	if err != nil {
		return nil, err
	}
	ackPending, err := m.Int64ObservableGauge("sluice.consumer.ack_pending", metric.WithUnit("{message}"),
		metric.WithDescription("messages delivered and not yet acknowledged"))
	if err != nil {
		return nil, err
	}
	redelivered, err := m.Int64ObservableGauge("sluice.consumer.redelivered", metric.WithUnit("{message}"),
		metric.WithDescription("messages delivered more than once and not yet acknowledged"))
	if err != nil {
		return nil, err
	}
	attrs := metric.WithAttributes(semconv.MessagingSystemKey.String("nats"),
		semconv.MessagingDestinationName(stream), semconv.MessagingConsumerGroupName(durable))
	info := throttled(time.Second, cons.Info)
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		info, ok := info(ctx)
		if !ok {
			return nil
		}
		o.ObserveInt64(pending, int64(info.NumPending), attrs)
		o.ObserveInt64(ackPending, int64(info.NumAckPending), attrs)
		o.ObserveInt64(redelivered, int64(info.NumRedelivered), attrs)
		return nil
	}, pending, ackPending, redelivered)
	if err != nil {
		return nil, err
	}
	return func() { _ = reg.Unregister() }, nil
}
