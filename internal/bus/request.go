package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RequestTimeout bounds one JetStream request (a key-value read or write, a publish)
// made under a context whose own deadline is far away, such as a task's; NewJetStream
// applies it to every request of a sluice process, as PublishAckTimeout to async publishes. The client waits
// for the reply until the context ends, and a reply lost with a cluster node (the request
// was taken, the answer never came) would hold the caller, and whoever waits on it, until
// then: in a chaos trial, an extractor's rate-limit bucket stalled for minutes that way.
// JetStream applies its own default timeout only to contexts without a deadline.
const RequestTimeout = 10 * time.Second

// requestTimeout is RequestTimeout; tests shorten it.
var requestTimeout = RequestTimeout

// Request runs one request under ctx bounded by RequestTimeout. When the bound ends it,
// the error is nats.ErrTimeout (wrapped): the bus lost the request, so a consumer holds the
// message as for an outage instead of spending one of its deliveries.
func Request[T any](ctx context.Context, do func(context.Context) (T, error)) (T, error) {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	v, err := do(rctx)
	if err != nil && ctx.Err() == nil && rctx.Err() != nil {
		err = fmt.Errorf("%w: no reply within %v: %w", nats.ErrTimeout, requestTimeout, err)
	}
	return v, err
}

// boundedJS is the JetStream context of NewJetStream: each of its request-reply calls
// (a publish, a key-value read or write) is one Request. Watches and consumers are not
// requests and pass through.
type boundedJS struct{ jetstream.JetStream }

func (b boundedJS) Publish(ctx context.Context, subject string, payload []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return Request(ctx, func(ctx context.Context) (*jetstream.PubAck, error) {
		return b.JetStream.Publish(ctx, subject, payload, opts...)
	})
}

func (b boundedJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return Request(ctx, func(ctx context.Context) (*jetstream.PubAck, error) { return b.JetStream.PublishMsg(ctx, msg, opts...) })
}

func (b boundedJS) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	return boundKV(b.JetStream.KeyValue(ctx, bucket))
}

func (b boundedJS) CreateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return boundKV(b.JetStream.CreateKeyValue(ctx, cfg))
}

func (b boundedJS) UpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return boundKV(b.JetStream.UpdateKeyValue(ctx, cfg))
}

func (b boundedJS) CreateOrUpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return boundKV(b.JetStream.CreateOrUpdateKeyValue(ctx, cfg))
}

func boundKV(kv jetstream.KeyValue, err error) (jetstream.KeyValue, error) {
	if err != nil {
		return nil, err
	}
	return boundedKV{kv}, nil
}

// boundedKV bounds a bucket's reads and writes the same way.
type boundedKV struct{ jetstream.KeyValue }

func (b boundedKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	return Request(ctx, func(ctx context.Context) (jetstream.KeyValueEntry, error) { return b.KeyValue.Get(ctx, key) })
}

func (b boundedKV) GetRevision(ctx context.Context, key string, revision uint64) (jetstream.KeyValueEntry, error) {
	return Request(ctx, func(ctx context.Context) (jetstream.KeyValueEntry, error) {
		return b.KeyValue.GetRevision(ctx, key, revision)
	})
}

func (b boundedKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return Request(ctx, func(ctx context.Context) (uint64, error) { return b.KeyValue.Put(ctx, key, value) })
}

func (b boundedKV) PutString(ctx context.Context, key string, value string) (uint64, error) {
	return Request(ctx, func(ctx context.Context) (uint64, error) { return b.KeyValue.PutString(ctx, key, value) })
}

func (b boundedKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	return Request(ctx, func(ctx context.Context) (uint64, error) { return b.KeyValue.Create(ctx, key, value, opts...) })
}

func (b boundedKV) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	return Request(ctx, func(ctx context.Context) (uint64, error) { return b.KeyValue.Update(ctx, key, value, revision) })
}

func (b boundedKV) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	_, err := Request(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, b.KeyValue.Delete(ctx, key, opts...) })
	return err
}

func (b boundedKV) Purge(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	_, err := Request(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, b.KeyValue.Purge(ctx, key, opts...) })
	return err
}
