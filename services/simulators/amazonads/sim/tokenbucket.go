package sim

import (
	"math"
	"time"
)

// tokenBucket is a token bucket of capacity burst refilled at rate tokens per
// second, kept as a theoretical arrival time (GCRA) in integer nanoseconds so
// that no floating-point drift can ever admit a request early: in any window
// of length T it admits at most burst + floor(T/interval) requests, with
// interval = ceil(1s/rate).
type tokenBucket struct {
	interval time.Duration // time to earn one token
	burst    int64
	tat      time.Time // when the bucket would be full again
}

func newTokenBucket(rate float64, burst int) *tokenBucket {
	return &tokenBucket{
		interval: time.Duration(math.Ceil(float64(time.Second) / rate)),
		burst:    int64(burst),
	}
}

// wait returns how long until a request at now would be admitted; 0 means
// now.
func (b *tokenBucket) wait(now time.Time) time.Duration {
	tat := b.tat
	if tat.Before(now) {
		tat = now
	}
	// Admitted when, after adding one interval, the bucket holds no more
	// than burst intervals of debt.
	if over := tat.Add(b.interval).Sub(now) - time.Duration(b.burst)*b.interval; over > 0 {
		return over
	}
	return 0
}

// take consumes one token; call it only when wait(now) is 0.
func (b *tokenBucket) take(now time.Time) {
	if b.tat.Before(now) {
		b.tat = now
	}
	b.tat = b.tat.Add(b.interval)
}
