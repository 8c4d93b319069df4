package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// RequestTimeout bounds one JetStream request (a key-value read or write, a publish)
// made under a context whose own deadline is far away, such as a task's. The client waits
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
