package ratelimit

import (
	"fmt"
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
	learnt := quotaState{Rate: 20, Limit: 22, Sure: true, LimitAt: now.Add(-time.Minute).UnixNano(), Strikes: 1,
		RunRate: 80, RunTime: int64(time.Second), ShortRun: true,
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
		if tt.wantRate == 100 && (got.Limit != 0 || got.Sure || got.RunRate != 0 || got.RunTime != 0 || got.ShortRun || got.Strikes != 0) {
			t.Errorf("%s: adaptive memory kept: %+v", tt.name, got)
		}
	}
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }

func TestThrottle(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	lim := Limit{Rate: 100, Headroom: -1}.WithDefaults()
	run := func(s quotaState, rate float64, d time.Duration) quotaState {
		s.RunRate, s.RunTime = rate, int64(d)
		return s
	}
	margin := DefaultMargin
	skiHold := time.Duration(float64(time.Second) / margin) // pause ÷ Margin
	tests := []struct {
		name       string
		st         quotaState
		epoch      uint64
		issued     float64
		retryAfter time.Duration
		jitter     float64
		wantRate   float64
		wantLimit  float64
		wantSure   bool
		wantEpoch  uint64
		wantPause  time.Duration // from now; 0: none
		wantHold   time.Duration // checked when not zero
		// wantProven is checked when not zero (-1: none); wantExcused always.
		wantProven  float64
		wantExcused int
	}{
		{name: "first throttle at the configured rate: near, it is trusted", st: quotaState{Rate: 100}, issued: 100, retryAfter: time.Second,
			wantRate: 100 * DefaultNearBackoff, wantLimit: 100, wantSure: true, wantEpoch: 1, wantPause: time.Second, wantHold: skiHold},
		{name: "first throttle far below the configured rate: halve", st: quotaState{Rate: 40}, issued: 40, retryAfter: time.Second,
			wantRate: 20, wantLimit: 40, wantEpoch: 1, wantPause: time.Second},
		{name: "stale epoch: pause only", st: quotaState{Rate: 50, Limit: 100, Epoch: 1}, epoch: 0, issued: 100, retryAfter: 2 * time.Second,
			wantRate: 50, wantLimit: 100, wantEpoch: 1, wantPause: 2 * time.Second},
		{name: "isolated throttle near a sure limit: gentle", st: quotaState{Rate: 97, Limit: 100, Sure: true, Epoch: 3}, epoch: 3, issued: 97, retryAfter: time.Second,
			wantRate: 97 * DefaultNearBackoff, wantLimit: 97, wantSure: true, wantEpoch: 4, wantPause: time.Second, wantHold: skiHold},
		{name: "short run after a short run: far, halve", st: quotaState{Rate: 90, Limit: 100, Sure: true, ShortRun: true, Epoch: 3}, epoch: 3, issued: 90, retryAfter: time.Second,
			wantRate: 45, wantLimit: 90, wantEpoch: 4, wantPause: time.Second},
		{name: "far below a sure limit: halve", st: quotaState{Rate: 40, Limit: 100, Sure: true, Epoch: 3}, epoch: 3, issued: 40, retryAfter: time.Second,
			wantRate: 20, wantLimit: 40, wantEpoch: 4, wantPause: time.Second},
		{name: "short run under a limit that is only a bound: halve", st: quotaState{Rate: 90, Limit: 100, Epoch: 3}, epoch: 3, issued: 90, retryAfter: time.Second,
			wantRate: 45, wantLimit: 90, wantEpoch: 4, wantPause: time.Second},
		{name: "second strike without success: halve", st: quotaState{Rate: 95, Limit: 100, Sure: true, Epoch: 3, Strikes: 1}, epoch: 3, issued: 95, retryAfter: time.Second,
			wantRate: 47.5, wantLimit: 95, wantEpoch: 4, wantPause: time.Second},
		{name: "long run: its recent rate is the limit", st: run(quotaState{Rate: 140, Limit: 150, Epoch: 2}, 100, 2*time.Second), epoch: 2, issued: 140, retryAfter: time.Second,
			wantRate: 100 * DefaultNearBackoff, wantLimit: 100, wantSure: true, wantEpoch: 3, wantPause: time.Second, wantHold: skiHold},
		{name: "long run after a short one: still its rate", st: run(quotaState{Rate: 140, Limit: 150, ShortRun: true, Epoch: 2}, 100, 2*time.Second), epoch: 2, issued: 140, retryAfter: time.Second,
			wantRate: 100 * DefaultNearBackoff, wantLimit: 100, wantSure: true, wantEpoch: 3, wantPause: time.Second},
		{name: "long run estimate clamped by Backoff", st: run(quotaState{Rate: 140, Limit: 150, Epoch: 2}, 10, 2*time.Second), epoch: 2, issued: 140, retryAfter: time.Second,
			wantRate: 70 * DefaultNearBackoff, wantLimit: 70, wantSure: true, wantEpoch: 3, wantPause: time.Second},
		{name: "long run estimate above the issued rate", st: run(quotaState{Rate: 90, Limit: 100, Epoch: 2}, 120, 2*time.Second), epoch: 2, issued: 90, retryAfter: time.Second,
			wantRate: 90 * DefaultNearBackoff, wantLimit: 90, wantSure: true, wantEpoch: 3, wantPause: time.Second},
		{name: "no Retry-After: backoff with jitter", st: quotaState{Rate: 100, Strikes: 2}, issued: 100, jitter: 1,
			wantRate: 50, wantLimit: 100, wantEpoch: 1, wantPause: 4 * DefaultPauseBase},
		{name: "no Retry-After: half jitter, hold by the pause", st: quotaState{Rate: 100}, issued: 100, jitter: 0,
			wantRate: 90, wantLimit: 100, wantSure: true, wantEpoch: 1, wantPause: DefaultPauseBase / 2,
			wantHold: time.Duration(float64(DefaultPauseBase/2) / margin)},
		{name: "backoff capped", st: quotaState{Rate: 100, Strikes: 40}, issued: 100, jitter: 1,
			wantRate: 50, wantLimit: 100, wantEpoch: 1, wantPause: DefaultPauseMax},
		{name: "hold capped by Hold", st: quotaState{Rate: 100}, issued: 100, retryAfter: time.Hour,
			wantRate: 90, wantLimit: 100, wantSure: true, wantEpoch: 1, wantPause: time.Hour, wantHold: DefaultHold},
		{name: "floor at MinRate", st: quotaState{Rate: 1.5}, issued: 1.5, retryAfter: time.Second,
			wantRate: 1, wantLimit: 1.5, wantEpoch: 1, wantPause: time.Second},
		{name: "burst at the proven rate: pause, keep rate and limit", st: quotaState{Rate: 98, Limit: 100, Sure: true, Proven: 98, Epoch: 3}, epoch: 3, issued: 98, retryAfter: time.Second,
			wantRate: 98, wantLimit: 100, wantSure: true, wantEpoch: 4, wantPause: time.Second, wantExcused: 1},
		{name: "burst below the proven rate, nothing learnt: keep", st: quotaState{Rate: 60, Proven: 98, Excused: 1, Epoch: 3}, epoch: 3, issued: 60, retryAfter: time.Second,
			wantRate: 60, wantLimit: 0, wantEpoch: 4, wantPause: time.Second, wantExcused: 2},
		{name: "burst without Retry-After: backoff, keep the rate", st: quotaState{Rate: 98, Proven: 98}, issued: 98, jitter: 1,
			wantRate: 98, wantEpoch: 1, wantPause: DefaultPauseBase, wantExcused: 1},
		{name: "bursts used up: decrease, forget the proof", st: quotaState{Rate: 98, Proven: 98, Excused: maxExcused, Epoch: 3}, epoch: 3, issued: 98, retryAfter: time.Second,
			wantRate: 98 * DefaultNearBackoff, wantLimit: 98, wantSure: true, wantEpoch: 4, wantPause: time.Second, wantProven: -1},
		{name: "above the proven rate: a limit", st: quotaState{Rate: 104, Limit: 100, Sure: true, Proven: 97, Epoch: 3}, epoch: 3, issued: 104, retryAfter: time.Second,
			wantRate: 104 * DefaultNearBackoff, wantLimit: 104, wantSure: true, wantEpoch: 4, wantPause: time.Second, wantProven: 97},
		{name: "stale epoch below the proven rate: pause only, no excuse spent", st: quotaState{Rate: 98, Proven: 98, Epoch: 3}, epoch: 2, issued: 98, retryAfter: time.Second,
			wantRate: 98, wantEpoch: 3, wantPause: time.Second},
		{name: "fresh state takes the start rate", st: quotaState{}, issued: 0, retryAfter: time.Second,
			wantRate: 90, wantLimit: 100, wantSure: true, wantEpoch: 1, wantPause: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := lim.throttle(current(lim, tt.st, now), tt.epoch, tt.issued, tt.retryAfter, now, tt.jitter)
			if !approx(got.Rate, tt.wantRate) || !approx(got.Limit, tt.wantLimit) || got.Sure != tt.wantSure || got.Epoch != tt.wantEpoch {
				t.Errorf("rate %v limit %v sure %v epoch %d, want %v %v %v %d", got.Rate, got.Limit, got.Sure, got.Epoch, tt.wantRate, tt.wantLimit, tt.wantSure, tt.wantEpoch)
			}
			var pause time.Duration
			if got.Pause > 0 {
				pause = time.Duration(got.Pause - now.UnixNano())
			}
			if pause != tt.wantPause {
				t.Errorf("pause %v, want %v", pause, tt.wantPause)
			}
			if tt.wantHold != 0 && time.Duration(got.Hold) != tt.wantHold {
				t.Errorf("hold %v, want %v", time.Duration(got.Hold), tt.wantHold)
			}
			if tt.wantProven != 0 && got.Proven != max(tt.wantProven, 0) {
				t.Errorf("proven %v, want %v", got.Proven, max(tt.wantProven, 0))
			}
			if got.Excused != tt.wantExcused {
				t.Errorf("excused %d, want %d", got.Excused, tt.wantExcused)
			}
			if got.Throttled != tt.st.Throttled+1 {
				t.Errorf("throttled count %d", got.Throttled)
			}
			if got.Epoch != tt.st.Epoch && (got.RunRate != 0 || got.RunTime != 0) {
				t.Errorf("run not restarted: %v/s for %v", got.RunRate, time.Duration(got.RunTime))
			}
		})
	}
}

// Every proofRuns × MinRun of full use proves the lowest rate reserved in it, so a rate
// still climbing is proven only where it started.
func TestRanProves(t *testing.T) {
	t.Parallel()
	const window = time.Second
	steps := func(rates ...float64) quotaState {
		var s quotaState
		s.Proven, s.Excused = 50, 2
		for _, r := range rates {
			for range int(r) { // one second at r, slot by slot
				s.ran(1, 1e9/r, window)
			}
		}
		return s
	}
	tests := []struct {
		name        string
		st          quotaState
		wantProven  float64
		wantExcused int
	}{
		{"short run: the old proof stands", steps(98, 98, 98), 50, 2},
		{"one proof period: proven at its rate, one burst credited back", steps(98, 98, 98, 98, 98, 98), 98, 1},
		{"two proof periods: all credited back", steps(98, 98, 98, 98, 98, 98, 98, 98, 98, 98, 98), 98, 0},
		{"climbing run: proven where the period started", steps(60, 70, 80, 90, 100, 110), 60, 1},
	}
	for _, tt := range tests {
		got := tt.st
		if !approx(got.Proven, tt.wantProven) {
			t.Errorf("%s: proven %v, want %v", tt.name, got.Proven, tt.wantProven)
		}
		if got.Excused != tt.wantExcused {
			t.Errorf("%s: excused %d, want %d", tt.name, got.Excused, tt.wantExcused)
		}
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
	lim := Limit{Rate: 200, Headroom: -1}.WithDefaults()
	recent := now.Add(-time.Second).UnixNano()
	old := now.Add(-2 * DefaultHold).UnixNano()
	hold := int64(30 * time.Second)
	tests := []struct {
		name      string
		st        quotaState
		n         int
		wantRate  float64
		wantLimit float64
	}{
		{"no successes: unchanged", quotaState{Rate: 50}, 0, 50, 0},
		{"recovery closes the gap", quotaState{Rate: 50, Limit: 100, Sure: true, LimitAt: recent, Hold: hold}, 25,
			50 + (97-50)*DefaultRecovery*0.5, 100},
		{"recovery stops at the target", quotaState{Rate: 96, Limit: 100, Sure: true, LimitAt: recent, Hold: hold}, 500, 97, 100},
		{"recovery minimum step", quotaState{Rate: 96.99, Limit: 100, Sure: true, LimitAt: recent, Hold: hold}, 1, 96.99 + 0.01*96.99/96.99*1, 100},
		{"hold at the target", quotaState{Rate: 97, Limit: 100, Sure: true, LimitAt: recent, Hold: hold}, 97, 97, 100},
		{"probe after the hold", quotaState{Rate: 97, Limit: 100, Sure: true, LimitAt: recent, Hold: int64(time.Second / 2)}, 97, 97 * (1 + DefaultProbe), 100},
		{"probe after a long time", quotaState{Rate: 97, Limit: 100, Sure: true, LimitAt: old, Hold: int64(DefaultHold)}, 97, 97 * (1 + DefaultProbe), 100},
		{"below a bound: climb", quotaState{Rate: 50, Limit: 100, LimitAt: recent}, 50, 50 * (1 + DefaultClimb), 100},
		{"forget a limit long passed", quotaState{Rate: 90, Limit: 80, Sure: true, LimitAt: old}, 90, 90 * (1 + DefaultProbe), 0},
		{"forget a bound passed", quotaState{Rate: 90, Limit: 85, LimitAt: recent}, 90, 90 * (1 + DefaultClimb), 0},
		{"climb without a limit", quotaState{Rate: 50}, 50, 50 * (1 + DefaultClimb), 0},
		{"never above the ceiling", quotaState{Rate: 199}, 1000, 200, 0},
		{"a limit at the ceiling: recover to the ceiling", quotaState{Rate: 180, Limit: 200, Sure: true, LimitAt: recent, Hold: hold}, 90,
			180 + 20*DefaultRecovery*0.5, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := lim.grow(current(lim, tt.st, now), tt.n, now)
			if !approx(got.Rate, tt.wantRate) || !approx(got.Limit, tt.wantLimit) {
				t.Errorf("rate %v limit %v, want %v %v", got.Rate, got.Limit, tt.wantRate, tt.wantLimit)
			}
			if tt.n > 0 && got.Strikes != 0 {
				t.Errorf("successes not recorded: strikes %d", got.Strikes)
			}
		})
	}
}

// simulate runs the controller of lim against a token bucket of rate quota and burst
// burst that answers 429 with a Retry-After of one second, with demand always above
// the rate, for d. jitterAt lists times at which one call is throttled although the
// bucket has room (scheduling jitter). It returns the admitted calls and throttles.
func simulate(lim Limit, quota float64, burst int, d time.Duration, jitterAt ...time.Duration) (admitted, throttles int, s quotaState) {
	start := time.Unix(1000, 0)
	now := start
	tokens, last := float64(burst), start
	for now.Sub(start) < d {
		s = lim.initial(s, now)
		slot := time.Unix(0, max(s.TAT, s.Pause, now.UnixNano()))
		interval := 1e9 / s.Rate
		s.TAT = slot.UnixNano() + int64(interval)
		s.ran(1, interval, lim.Adaptive.MinRun)
		now = slot
		tokens = math.Min(float64(burst), tokens+quota*now.Sub(last).Seconds())
		last = now
		jitter := len(jitterAt) > 0 && now.Sub(start) >= jitterAt[0]
		if tokens >= 1 && !jitter {
			tokens--
			admitted++
			s = lim.grow(s, 1, now)
			continue
		}
		if jitter {
			jitterAt = jitterAt[1:]
		}
		throttles++
		rs, rt := s.RunRate, s.RunTime
		s = lim.throttle(s, s.Epoch, s.Rate, time.Second, now, 0.5)
		if debugSim {
			fmt.Printf("t=%.2f run %.1f/%.2fs -> rate %.1f limit %.1f sure %v hold %v\n", now.Sub(start).Seconds(), rs, time.Duration(rt).Seconds(), s.Rate, s.Limit, s.Sure, time.Duration(s.Hold))
		}
	}
	return admitted, throttles, s
}

// The controller finds a quota it was configured 4× above within a few throttles and
// then works close to it; configured at the quota, an isolated throttle costs little.
func TestControllerDynamics(t *testing.T) {
	t.Parallel()
	const quota, burst, d = 100.0, 5, 120 * time.Second
	tests := []struct {
		name          string
		lim           Limit
		jitterAt      []time.Duration
		minEfficiency float64
		maxThrottles  int
	}{
		{"configured at the quota", Limit{Rate: quota}, nil, 0.975, 0},
		{"configured at the quota, one jitter throttle", Limit{Rate: quota}, []time.Duration{10 * time.Second}, 0.95, 1},
		{"configured at the quota, a jitter throttle every 6 s", Limit{Rate: quota}, everyN(6*time.Second, 6*time.Second, d), 0.8, 20},
		{"configured at 4× the quota", Limit{Rate: 4 * quota}, nil, 0.9, 8},
		{"configured at 4× the quota, jitter throttles every 10 s", Limit{Rate: 4 * quota}, everyN(10*time.Second, 20*time.Second, d), 0.78, 16},
		{"configured at 20× the quota", Limit{Rate: 20 * quota}, nil, 0.88, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			admitted, throttles, s := simulate(tt.lim.WithDefaults(), quota, burst, d, tt.jitterAt...)
			eff := float64(admitted) / (quota * d.Seconds())
			t.Logf("efficiency %.3f, %d throttles, final rate %.1f limit %.1f", eff, throttles, s.Rate, s.Limit)
			if eff < tt.minEfficiency || throttles > tt.maxThrottles {
				t.Errorf("efficiency %.3f with %d throttles, want ≥ %.3f with ≤ %d", eff, throttles, tt.minEfficiency, tt.maxThrottles)
			}
		})
	}
}

const debugSim = false

// everyN lists times every, from first until d.
func everyN(every, first, d time.Duration) []time.Duration {
	var out []time.Duration
	for at := first; at < d; at += every {
		out = append(out, at)
	}
	return out
}
