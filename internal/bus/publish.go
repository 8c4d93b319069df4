package bus

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/internal/telemetry"
)

// Message is what a service publishes: a protobuf body, its dedupe id and lineage headers.
type Message struct {
	Subject string
	// MsgID becomes Nats-Msg-Id: JetStream drops a second publish with the same id inside
	// the duplicate window, which makes re-publishing after a crash harmless.
	MsgID    string
	Body     proto.Message
	RecordID string
	Provider string
	Dataset  string
	// Header holds extra headers; may be nil.
	Header nats.Header
}

func (m Message) build(ctx context.Context) (*nats.Msg, error) {
	data, err := proto.Marshal(m.Body)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", m.Subject, err)
	}
	h := nats.Header{}
	for k, v := range m.Header {
		h[k] = v
	}
	if m.MsgID != "" {
		h.Set(HeaderMsgID, m.MsgID)
	}
	if m.RecordID != "" {
		h.Set(HeaderRecordID, m.RecordID)
	}
	if m.Provider != "" {
		h.Set(HeaderProvider, m.Provider)
	}
	if m.Dataset != "" {
		h.Set(HeaderDataset, m.Dataset)
	}
	telemetry.Inject(ctx, h)
	return &nats.Msg{Subject: m.Subject, Data: data, Header: h}, nil
}

// Publish publishes m and waits for the stream's acknowledgement, so that when it
// returns nil the message is durable.
func Publish(ctx context.Context, js jetstream.JetStream, m Message) (*jetstream.PubAck, error) {
	msg, err := m.build(ctx)
	if err != nil {
		return nil, err
	}
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", m.Subject, err)
	}
	return ack, nil
}

// Batch publishes many messages asynchronously and waits for all acknowledgements; it
// keeps the pipeline full without one round trip per message.
type Batch struct {
	js      jetstream.JetStream
	futures []jetstream.PubAckFuture
	subj    []string
}

// NewBatch starts an empty batch.
func NewBatch(js jetstream.JetStream) *Batch { return &Batch{js: js} }

// Add publishes m without waiting.
func (b *Batch) Add(ctx context.Context, m Message) error {
	msg, err := m.build(ctx)
	if err != nil {
		return err
	}
	f, err := b.js.PublishMsgAsync(msg)
	if err != nil {
		return fmt.Errorf("publish %s: %w", m.Subject, err)
	}
	b.futures = append(b.futures, f)
	b.subj = append(b.subj, m.Subject)
	return nil
}

// Len is the number of messages added since the last Wait.
func (b *Batch) Len() int { return len(b.futures) }

// Wait returns nil once every message added is acknowledged, or the first failure.
func (b *Batch) Wait(ctx context.Context) error {
	defer func() { b.futures, b.subj = b.futures[:0], b.subj[:0] }()
	var first error
	for i, f := range b.futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if first == nil {
				first = fmt.Errorf("publish %s: %w", b.subj[i], err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return first
}
