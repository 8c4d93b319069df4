package bus

import (
	"context"
	"time"
)

// RequestTimeout bounds one JetStream request (a key-value read or write, a publish)
// made under a context whose own deadline is far away, such as a task's. The client waits
// for the reply until the context ends, and a reply lost with a cluster node (the request
// was taken, the answer never came) would hold the caller, and whoever waits on it, until
// then: in a chaos trial, an extractor's rate-limit bucket stalled for minutes that way.
// JetStream applies its own default timeout only to contexts without a deadline.
const RequestTimeout = 10 * time.Second

// Bounded returns ctx limited to RequestTimeout, for one request.
func Bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, RequestTimeout)
}
