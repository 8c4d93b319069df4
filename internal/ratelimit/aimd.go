package ratelimit

import (
	"math"
	"time"
)

// farRatio: a throttle at a rate below farRatio × the remembered limit means the limit
// has dropped (or was never where we thought), so the decrease is the large Backoff.
const farRatio = 0.8

// forgetRatio: once the rate has run this far above the remembered limit without a
// throttle, the limit is forgotten and growth is the faster Climb again.
const forgetRatio = 1.1

// minStep is the least growth per second of full use while recovering towards the
// target (relative to the rate), so the target is reached in finite time.
const minStep = 0.01

// okWindow is the time constant of the accepted-rate estimate.
const okWindow = 4 * time.Second

// accepted returns the decayed success count at now, and whether the estimate has seen
// a full window (before that it underestimates the rate).
func (s quotaState) accepted(now int64) (acc float64, warm bool) {
	if s.OKSince == 0 {
		return 0, false
	}
	dt := float64(now-s.OKAt) / float64(okWindow)
	return s.OKAcc * math.Exp(-max(dt, 0)), now-s.OKSince >= int64(okWindow)
}

// forgetAfter: adaptive state untouched for this long is stale (the server's limits may
// have changed since), and so is state learnt under another ceiling (the configuration
// changed): both start over from StartRate.
const forgetAfter = 10 * time.Minute

// initial returns s with the adaptive part reset when the entry is new or stale. The
// schedule (TAT, pause, epoch) is kept: it is what keeps replicas apart.
func (l Limit) initial(s quotaState, now time.Time) quotaState {
	c := l.ceiling()
	if s.Rate <= 0 || s.Ceiling != c || now.UnixNano()-s.Updated > int64(forgetAfter) {
		s.Rate = math.Min(l.StartRate, c)
		s.Ceiling = c
		s.Limit, s.LimitAt, s.Strikes = 0, 0, 0
		s.OKAcc, s.OKAt, s.OKSince = 0, 0, 0
	}
	s.Updated = now.UnixNano()
	return s
}

// grow applies n successful calls to s: additive increase. Growth is per second of full
// use (n calls at rate r are n/r seconds), so it does not depend on how many replicas
// report, and an idle quota does not climb. Below a remembered limit it closes a
// Recovery fraction of the gap to Limit×(1−Margin) per second; there it holds for Hold,
// then probes above it by Probe per second; with no limit known it climbs by Climb per
// second. The result never exceeds the ceiling.
func (l Limit) grow(s quotaState, n int, now time.Time) quotaState {
	s = l.initial(s, now)
	if n <= 0 {
		return s
	}
	s.Strikes = 0
	nowN := now.UnixNano()
	acc, _ := s.accepted(nowN)
	s.OKAcc, s.OKAt = acc+float64(n), nowN
	if s.OKSince == 0 {
		s.OKSince = nowN
	}
	a := l.Adaptive
	if a.Disabled {
		s.Rate = l.ceiling()
		return s
	}
	r := s.Rate
	secs := float64(n) / r
	switch target := s.Limit * (1 - a.Margin); {
	case s.Limit > 0 && r < target:
		g := math.Max((target-r)*a.Recovery, r*minStep)
		r = math.Min(r+g*secs, target)
	case s.Limit > 0 && now.Sub(time.Unix(0, s.LimitAt)) < a.Hold:
		// hold just below the limit that throttled us
	case s.Limit > 0:
		r += r * a.Probe * secs
		if r > s.Limit*forgetRatio {
			s.Limit, s.LimitAt = 0, 0
		}
	default:
		r += r * a.Climb * secs
	}
	s.Rate = math.Min(r, l.ceiling())
	return s
}

// throttle applies one throttle (HTTP 429) of a permit issued at issuedRate in epoch
// issuedEpoch: multiplicative decrease, once per epoch, plus a shared pause. A throttle
// from an older epoch was caused before the last decrease took effect: it extends the
// pause by its Retry-After but does not decrease again (one decrease per round trip, as
// in TCP). Without Retry-After the pause is an exponential backoff over consecutive
// throttles with jitter; jitter is a number in [0, 1).
func (l Limit) throttle(s quotaState, issuedEpoch uint64, issuedRate float64, retryAfter time.Duration, now time.Time, jitter float64) quotaState {
	s = l.initial(s, now)
	s.Throttled++
	a := l.Adaptive
	nowN := now.UnixNano()
	if retryAfter > 0 {
		s.Pause = max(s.Pause, nowN+int64(retryAfter))
	}
	if issuedEpoch != s.Epoch {
		return s
	}
	s.Epoch++
	s.Strikes++
	if retryAfter <= 0 {
		d := float64(a.PauseBase) * math.Pow(2, float64(min(s.Strikes-1, 30)))
		d = math.Min(d, float64(a.PauseMax)) * (0.5 + 0.5*jitter)
		s.Pause = max(s.Pause, nowN+int64(d))
	}
	if a.Disabled {
		return s
	}
	if issuedRate <= 0 {
		issuedRate = s.Rate
	}
	beta := a.NearBackoff
	if s.Limit == 0 || issuedRate < s.Limit*farRatio || s.Strikes > 1 {
		beta = a.Backoff
	}
	rate, limit := issuedRate*beta, issuedRate
	// While throttled, the server accepts exactly its quota: once the estimate of the
	// accepted rate covers a full window, it is the better guess of the limit (kept
	// within [issuedRate×Backoff, issuedRate] against bursts and idle periods).
	if acc, warm := s.accepted(nowN); warm {
		limit = math.Min(issuedRate, math.Max(acc/okWindow.Seconds(), issuedRate*a.Backoff))
		rate = math.Min(rate, limit*a.NearBackoff)
	}
	s.Limit, s.LimitAt = limit, nowN
	s.Rate = math.Max(l.MinRate, math.Min(s.Rate, rate))
	return s
}
