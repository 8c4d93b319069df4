package ratelimit

import (
	"math"
	"testing"
	"time"
)

// current marks a test state as learnt under lim just now (else it would be reset).
func current(lim Limit, s quotaState, now time.Time) quotaState {
	if s.Rate > 0 {
		s.Ceiling, s.Updated = lim.ceiling(), now.UnixNano()
	}
	return s
}

// Adaptive state that is stale, or learnt under another ceiling, starts over; the
// schedule is kept.
func TestInitialForgets(t *testing.T) {
	t.Parallel()
	now := time.Unix(5000, 0)
	lim := Limit{Rate: 100, Headroom: -1}.WithDefaults()
	learnt := quotaState{Rate: 20, Limit: 22, LimitAt: now.Add(-time.Minute).UnixNano(), Strikes: 1, OKAcc: 80,
		TAT: now.UnixNano() + 5, Pause: now.UnixNano() + 7, Epoch: 4, Ceiling: 100, Updated: now.Add(-time.Minute).UnixNano()}
	tests := []struct {
		name     string
		st       quotaState
		wantRate float64
	}{
		{"recent, same ceiling: kept", learnt, 20},
		{"stale", func() quotaState { s := learnt; s.Updated = now.Add(-forgetAfter - time.Second).UnixNano(); return s }(), 100},
		{"other ceiling", func() quotaState { s := learnt; s.Ceiling = 400; return s }(), 100},
	}
	for _, tt := range tests {
		got := lim.initial(tt.st, now)
		if got.Rate != tt.wantRate || got.TAT != learnt.TAT || got.Pause != learnt.Pause || got.Epoch != learnt.Epoch || got.Updated != now.UnixNano() {
			t.Errorf("%s: %+v", tt.name, got)
		}
		if tt.wantRate == 100 && (got.Limit != 0 || got.OKAcc != 0 || got.Strikes != 0) {
			t.Errorf("%s: adaptive memory kept: %+v", tt.name, got)
		}
	}
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }

func TestThrottle(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	lim := Limit{Rate: 100, Headroom: -1}.WithDefaults()
	warm := func(s quotaState, accepted float64) quotaState {
		s.OKSince = now.Add(-time.Minute).UnixNano()
		s.OKAt = now.UnixNano()
		s.OKAcc = accepted * okWindow.Seconds()
		return s
	}
	tests := []struct {
		name       string
		st         quotaState
		epoch      uint64
		issued     float64
		retryAfter time.Duration
		jitter     float64
		wantRate   float64
		wantLimit  float64
		wantEpoch  uint64
		wantPause  time.Duration // from now; 0: none
	}{
		{name: "first throttle: far, halve", st: quotaState{Rate: 100}, issued: 100, retryAfter: time.Second,
			wantRate: 50, wantLimit: 100, wantEpoch: 1, wantPause: time.Second},
		{name: "stale epoch: pause only", st: quotaState{Rate: 50, Limit: 100, Epoch: 1}, epoch: 0, issued: 100, retryAfter: 2 * time.Second,
			wantRate: 50, wantLimit: 100, wantEpoch: 1, wantPause: 2 * time.Second},
		{name: "near the known limit: gentle", st: quotaState{Rate: 95, Limit: 100, Epoch: 3}, epoch: 3, issued: 95, retryAfter: time.Second,
			wantRate: 95 * DefaultNearBackoff, wantLimit: 95, wantEpoch: 4, wantPause: time.Second},
		{name: "far below the known limit: halve", st: quotaState{Rate: 40, Limit: 100, Epoch: 3}, epoch: 3, issued: 40, retryAfter: time.Second,
			wantRate: 20, wantLimit: 40, wantEpoch: 4, wantPause: time.Second},
		{name: "second strike without success: halve", st: quotaState{Rate: 95, Limit: 100, Epoch: 3, Strikes: 1}, epoch: 3, issued: 95, retryAfter: time.Second,
			wantRate: 47.5, wantLimit: 95, wantEpoch: 4, wantPause: time.Second},
		{name: "no Retry-After: backoff with jitter", st: quotaState{Rate: 100, Strikes: 2}, issued: 100, jitter: 1,
			wantRate: 50, wantLimit: 100, wantEpoch: 1, wantPause: 4 * DefaultPauseBase},
		{name: "no Retry-After: half jitter", st: quotaState{Rate: 100}, issued: 100, jitter: 0,
			wantRate: 50, wantLimit: 100, wantEpoch: 1, wantPause: DefaultPauseBase / 2},
		{name: "backoff capped", st: quotaState{Rate: 100, Strikes: 40}, issued: 100, jitter: 1,
			wantRate: 50, wantLimit: 100, wantEpoch: 1, wantPause: DefaultPauseMax},
		{name: "floor at MinRate", st: quotaState{Rate: 1.5}, issued: 1.5, retryAfter: time.Second,
			wantRate: 1, wantLimit: 1.5, wantEpoch: 1, wantPause: time.Second},
		{name: "warm estimate sets the limit", st: warm(quotaState{Rate: 140, Limit: 150, Epoch: 2}, 100), epoch: 2, issued: 140, retryAfter: time.Second,
			wantRate: 100 * DefaultNearBackoff, wantLimit: 100, wantEpoch: 3, wantPause: time.Second},
		{name: "warm estimate clamped by Backoff", st: warm(quotaState{Rate: 140, Limit: 150, Epoch: 2}, 10), epoch: 2, issued: 140, retryAfter: time.Second,
			wantRate: 70 * DefaultNearBackoff, wantLimit: 70, wantEpoch: 3, wantPause: time.Second},
		{name: "warm estimate above the issued rate", st: warm(quotaState{Rate: 90, Limit: 100, Epoch: 2}, 120), epoch: 2, issued: 90, retryAfter: time.Second,
			wantRate: 90 * DefaultNearBackoff, wantLimit: 90, wantEpoch: 3, wantPause: time.Second},
		{name: "fresh state takes the start rate", st: quotaState{}, issued: 0, retryAfter: time.Second,
			wantRate: 50, wantLimit: 100, wantEpoch: 1, wantPause: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := lim.throttle(current(lim, tt.st, now), tt.epoch, tt.issued, tt.retryAfter, now, tt.jitter)
			if !approx(got.Rate, tt.wantRate) || !approx(got.Limit, tt.wantLimit) || got.Epoch != tt.wantEpoch {
				t.Errorf("rate %v limit %v epoch %d, want %v %v %d", got.Rate, got.Limit, got.Epoch, tt.wantRate, tt.wantLimit, tt.wantEpoch)
			}
			var pause time.Duration
			if got.Pause > 0 {
				pause = time.Duration(got.Pause - now.UnixNano())
			}
			if pause != tt.wantPause {
				t.Errorf("pause %v, want %v", pause, tt.wantPause)
			}
			if got.Throttled != tt.st.Throttled+1 {
				t.Errorf("throttled count %d", got.Throttled)
			}
		})
	}
}

func TestThrottleDisabledKeepsRate(t *testing.T) {
	t.Parallel()
	lim := Limit{Rate: 10, Adaptive: Adaptive{Disabled: true}}.WithDefaults()
	now := time.Unix(1000, 0)
	got := lim.throttle(quotaState{Rate: 9.8}, 0, 9.8, 3*time.Second, now, 0)
	if got.Rate != 9.8 || got.Pause != now.Add(3*time.Second).UnixNano() {
		t.Errorf("disabled: rate %v pause %v", got.Rate, got.Pause)
	}
}

func TestGrow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	lim := Limit{Rate: 100, Headroom: -1}.WithDefaults()
	recent := now.Add(-time.Second).UnixNano()
	old := now.Add(-2 * DefaultHold).UnixNano()
	tests := []struct {
		name      string
		st        quotaState
		n         int
		wantRate  float64
		wantLimit float64
	}{
		{"no successes: unchanged", quotaState{Rate: 50}, 0, 50, 0},
		{"recovery closes the gap", quotaState{Rate: 50, Limit: 100, LimitAt: recent}, 50,
			50 + (97-50)*DefaultRecovery, 100},
		{"recovery stops at the target", quotaState{Rate: 96, Limit: 100, LimitAt: recent}, 500, 97, 100},
		{"recovery minimum step", quotaState{Rate: 96.99, Limit: 100, LimitAt: recent}, 1, 96.99 + 0.01*96.99/96.99*1, 100},
		{"hold at the target", quotaState{Rate: 97, Limit: 100, LimitAt: recent}, 97, 97, 100},
		{"probe after the hold", quotaState{Rate: 97, Limit: 100, LimitAt: old}, 97, 97 * (1 + DefaultProbe), 100},
		{"forget a limit long passed", quotaState{Rate: 90, Limit: 80, LimitAt: old}, 90, 90 * (1 + DefaultProbe), 0},
		{"climb without a limit", quotaState{Rate: 50}, 50, 50 * (1 + DefaultClimb), 0},
		{"never above the ceiling", quotaState{Rate: 99}, 1000, 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := lim.grow(current(lim, tt.st, now), tt.n, now)
			if !approx(got.Rate, tt.wantRate) || !approx(got.Limit, tt.wantLimit) {
				t.Errorf("rate %v limit %v, want %v %v", got.Rate, got.Limit, tt.wantRate, tt.wantLimit)
			}
			if tt.n > 0 && (got.Strikes != 0 || got.OKAcc < float64(tt.n)) {
				t.Errorf("successes not recorded: strikes %d acc %v", got.Strikes, got.OKAcc)
			}
		})
	}
}

// The accepted-rate estimate converges to the rate of successes.
func TestAcceptedEstimate(t *testing.T) {
	t.Parallel()
	lim := Limit{Rate: 100}.WithDefaults()
	var s quotaState
	start := time.Unix(1000, 0)
	for i := range 200 { // 20 successes per 100ms = 200/s, for 20s
		s = lim.grow(s, 20, start.Add(time.Duration(i)*100*time.Millisecond))
	}
	acc, warm := s.accepted(s.OKAt)
	if !warm {
		t.Fatal("not warm after 20s")
	}
	if est := acc / okWindow.Seconds(); math.Abs(est-200) > 10 {
		t.Errorf("estimate %v/s, want ≈200", est)
	}
}
