package sim

import (
	"fmt"
	"testing"
	"time"
)

func TestTokenBucket(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		rate     float64
		burst    int
		every    time.Duration // arrival spacing
		n        int
		admitted int
	}{
		{rate: 1, burst: 1, every: 0, n: 10, admitted: 1},
		{rate: 5, burst: 5, every: 0, n: 10, admitted: 5},
		{rate: 10, burst: 2, every: 100 * time.Millisecond, n: 20, admitted: 20},
		{rate: 10, burst: 2, every: 50 * time.Millisecond, n: 20, admitted: 11}, // 2 burst + 9 earned in 950 ms + ...
		{rate: 2, burst: 3, every: 100 * time.Millisecond, n: 30, admitted: 8},  // 3 + floor(2.9 s * 2)
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rate, "/", tt.burst, "/", tt.every), func(t *testing.T) {
			b := newTokenBucket(tt.rate, tt.burst)
			got := 0
			for i := range tt.n {
				now := t0.Add(time.Duration(i) * tt.every)
				if b.wait(now) == 0 {
					b.take(now)
					got++
				}
			}
			if got != tt.admitted {
				t.Errorf("admitted %d of %d, want %d", got, tt.n, tt.admitted)
			}
		})
	}
}

func TestTokenBucketWait(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newTokenBucket(4, 1)
	b.take(t0)
	if w := b.wait(t0); w != 250*time.Millisecond {
		t.Errorf("wait after taking the only token = %v, want 250ms", w)
	}
	if w := b.wait(t0.Add(100 * time.Millisecond)); w != 150*time.Millisecond {
		t.Errorf("wait 100ms later = %v, want 150ms", w)
	}
	if w := b.wait(t0.Add(250 * time.Millisecond)); w != 0 {
		t.Errorf("wait when due = %v, want 0", w)
	}
}

// TestTokenBucketWindowBound drives a bucket with dense, irregular arrivals
// and checks the bound the recorder relies on: in any window of length T
// at most burst + floor(T*rate) admissions.
func TestTokenBucketWindowBound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rate  float64
		burst int
	}{{3, 1}, {5, 5}, {7.5, 2}, {100, 10}} {
		b := newTokenBucket(tc.rate, tc.burst)
		s := newStream(uint64(tc.burst))
		var rec slidingMax
		now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		for range 20000 {
			now = now.Add(time.Duration(s.intn(int64(3 * time.Second / time.Duration(tc.rate*10)))))
			if b.wait(now) == 0 {
				b.take(now)
				rec.add(now, time.Second)
			}
		}
		if limit := int64(tc.burst) + int64(tc.rate); rec.max > limit {
			t.Errorf("rate %v burst %d: %d admitted in a 1 s window, bound %d", tc.rate, tc.burst, rec.max, limit)
		}
		if rec.max < int64(tc.rate) {
			t.Errorf("rate %v burst %d: only %d admitted in the busiest second", tc.rate, tc.burst, rec.max)
		}
	}
}

func TestSlidingMax(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	var s slidingMax
	for _, at := range []int{0, 100, 999, 1000, 1001, 1500, 2600, 2601} {
		s.add(ms(at), time.Second)
	}
	// (0.5s, 1.5s] holds 999, 1000, 1001, 1500; the event at 0 ms is out
	// of (1000-1000, 1000] = (0, 1000].
	if s.max != 4 {
		t.Errorf("max = %d, want 4", s.max)
	}
}

func TestRetryAfterValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d          time.Duration
		fractional bool
		want       string
	}{
		{0, false, "1"},
		{10 * time.Millisecond, false, "1"},
		{time.Second, false, "1"},
		{1001 * time.Millisecond, false, "2"},
		{250 * time.Millisecond, true, "0.250"},
		{0, true, "0.001"},
	}
	for _, tt := range tests {
		if got := retryAfterValue(tt.d, tt.fractional); got != tt.want {
			t.Errorf("retryAfterValue(%v, %v) = %q, want %q", tt.d, tt.fractional, got, tt.want)
		}
	}
}
