package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// dlqUsageEvery is how often ExportDLQUsage reads the DLQ stream's info: its size changes
// slowly, and every replica of every service exports it.
const dlqUsageEvery = 10 * time.Second

// ExportDLQUsage publishes how full the DLQ stream is as gauges, read from the server at
// most every 10 seconds: sluice.dlq.bytes (bytes held), sluice.dlq.max_bytes (its bound, see
// ProvisionConfig.DLQMaxBytes; -1 when unbounded) and sluice.dlq.messages. A full DLQ
// refuses dead letters, so failing messages are retried in their own streams instead: the
// SluiceDLQFilling alert fires before that. Every service exports them (service.Start), so
// an operator sees them whichever services run; queries collapse the copies with max.
// It uses the global meter provider that telemetry.Setup installs.
func ExportDLQUsage(js jetstream.JetStream) (func(), error) {
	m := otel.GetMeterProvider().Meter("github.com/sluice-dev/sluice/internal/bus")
	used, err := m.Int64ObservableGauge("sluice.dlq.bytes", metric.WithUnit("By"),
		metric.WithDescription("bytes of dead letters held in the DLQ stream"))
	if err != nil {
		return nil, err
	}
	limit, err := m.Int64ObservableGauge("sluice.dlq.max_bytes", metric.WithUnit("By"),
		metric.WithDescription("the DLQ stream's byte bound; at it, dead-lettering fails and failed messages are retried"))
	if err != nil {
		return nil, err
	}
	msgs, err := m.Int64ObservableGauge("sluice.dlq.messages", metric.WithUnit("{message}"),
		metric.WithDescription("dead letters held in the DLQ stream"))
	if err != nil {
		return nil, err
	}
	attrs := metric.WithAttributes(semconv.MessagingSystemKey.String("nats"), semconv.MessagingDestinationName(StreamDLQ))
	info := throttled(dlqUsageEvery, func(ctx context.Context) (*jetstream.StreamInfo, error) {
		s, err := js.Stream(ctx, StreamDLQ)
		if err != nil {
			return nil, err
		}
		return s.CachedInfo(), nil
	})
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		info, ok := info(ctx)
		if !ok {
			return nil
		}
		o.ObserveInt64(used, int64(info.State.Bytes), attrs)
		o.ObserveInt64(limit, info.Config.MaxBytes, attrs)
		o.ObserveInt64(msgs, int64(info.State.Msgs), attrs)
		return nil
	}, used, limit, msgs)
	if err != nil {
		return nil, err
	}
	return func() { _ = reg.Unregister() }, nil
}
