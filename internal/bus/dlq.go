package bus

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-dev/sluice/internal/telemetry"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// DeadLetters publishes failures of one stage to the DLQ stream.
type DeadLetters struct {
	js        jetstream.JetStream
	stage     string
	published metric.Int64Counter
}

// NewDeadLetters returns the DLQ publisher of stage (e.g. "stage", "transform", "load").
// It counts what it publishes as sluice.dlq.published on the global meter provider.
func NewDeadLetters(js jetstream.JetStream, stage string) *DeadLetters {
	published, err := otel.GetMeterProvider().Meter("github.com/sluice-dev/sluice/internal/bus").Int64Counter(
		"sluice.dlq.published", metric.WithUnit("{message}"), metric.WithDescription("dead letters published, by stage"))
	if err != nil {
		published = noopmetric.Int64Counter{}
	}
	return &DeadLetters{js: js, stage: stage, published: published}
}

// Stage is the stage name dead letters are filed under.
func (d *DeadLetters) Stage() string { return d.stage }

// Message sends a whole message to the DLQ with the reason it failed.
func (d *DeadLetters) Message(ctx context.Context, msg jetstream.Msg, reason string) error {
	dl := d.letter(ctx, msg, reason, -1)
	return d.send(ctx, dl, msg, "msg")
}

// Row sends one failing row of a message to the DLQ; the rest of the message proceeds.
// data is what should be retried for that row (the raw row, or the whole message).
func (d *DeadLetters) Row(ctx context.Context, msg jetstream.Msg, rowIndex int64, reason string, data []byte) error {
	dl := d.letter(ctx, msg, reason, rowIndex)
	if data != nil {
		dl.Data = data
	}
	return d.send(ctx, dl, msg, "row"+strconv.FormatInt(rowIndex, 10))
}

// SourceRow sends one source row of a message to the DLQ: data holds that row's own bytes
// as the payload had them (nil when the row could not be read), contentType the payload's
// content type, and the letter points at the message (record id, stream, stream
// sequence) instead of copying it, so a megabyte record with many bad rows costs the DLQ
// its bad rows only.
func (d *DeadLetters) SourceRow(ctx context.Context, msg jetstream.Msg, rowIndex int64, reason string, data []byte, contentType string) error {
	dl := d.letter(ctx, msg, reason, rowIndex)
	dl.Data, dl.ContentType = data, contentType
	return d.send(ctx, dl, msg, "row"+strconv.FormatInt(rowIndex, 10))
}

func (d *DeadLetters) letter(ctx context.Context, msg jetstream.Msg, reason string, rowIndex int64) *sluicev1.DeadLetter {
	h := msg.Headers()
	provider, dataset := h.Get(HeaderProvider), h.Get(HeaderDataset)
	if p, ds, ok := ProviderDataset(msg.Subject()); ok && provider == "" {
		provider, dataset = p, ds
	}
	headers := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) > 0 {
			headers[k] = v[0]
		}
	}
	var deliveries, seq uint64
	var stream string
	if md, err := msg.Metadata(); err == nil {
		deliveries, stream, seq = md.NumDelivered, md.Stream, md.Sequence.Stream
	}
	return &sluicev1.DeadLetter{
		Stage:      d.stage,
		Reason:     reason,
		RecordId:   h.Get(HeaderRecordID),
		RowIndex:   rowIndex,
		Subject:    msg.Subject(),
		Data:       msg.Data(),
		Headers:    headers,
		Deliveries: deliveries,
		FailedAt:   timestamppb.New(time.Now()),
		Provider:   provider,
		Dataset:    dataset,
		TraceId:    telemetry.TraceID(ctx),

		Stream:         stream,
		StreamSequence: seq,
	}
}

func (d *DeadLetters) send(ctx context.Context, dl *sluicev1.DeadLetter, msg jetstream.Msg, part string) error {
	// The stream sequence makes the dedupe id stable across a redelivery of the same message.
	id := d.stage + ":" + dl.Subject + ":" + part
	if md, err := msg.Metadata(); err == nil {
		id = fmt.Sprintf("%s:%s:%d:%s", d.stage, md.Stream, md.Sequence.Stream, part)
	}
	_, err := Publish(ctx, d.js, Message{
		Subject:  DLQSubject(d.stage, dl.Provider, dl.Dataset),
		MsgID:    id,
		Body:     dl,
		RecordID: dl.RecordId,
		Provider: dl.Provider,
		Dataset:  dl.Dataset,
	})
	if err != nil {
		return fmt.Errorf("dead-letter %s: %w", id, err)
	}
	d.published.Add(ctx, 1, metric.WithAttributes(attribute.String("stage", d.stage), attribute.String("provider", dl.Provider), attribute.String("dataset", dl.Dataset)))
	return nil
}
