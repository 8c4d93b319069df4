package bus

import (
	"context"
	"sync"
	"time"
)

// throttled returns a reader of read's last result that calls read at most once per every
// (with a 2 s timeout): metric callbacks of every replica would otherwise ask the server
// at each scrape. ok is false until a read has succeeded.
func throttled[T any](every time.Duration, read func(context.Context) (T, error)) func(context.Context) (T, bool) {
	var mu sync.Mutex
	var last time.Time
	var v T
	var have bool
	return func(ctx context.Context) (T, bool) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) > every {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if got, err := read(rctx); err == nil {
				v, have, last = got, true, time.Now()
			}
			cancel()
		}
		return v, have
	}
}
