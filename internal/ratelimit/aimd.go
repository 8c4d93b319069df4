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

// forgetAfter: adaptive state untouched for this long is stale (the server's limits may
// have changed since), and so is state learnt under another ceiling (the configuration
// changed): both start over from StartRate.
const forgetAfter = 10 * time.Minute

// proofRuns × MinRun of full use without a throttle proves a rate: a token bucket of
// rate L and burst b lets a run at r last only b/(r−L), so a long run at r shows L is
// at least about r.
const proofRuns = 5

// maxExcused is how many throttles at or below the proven rate are taken as bursts
// before the next proof. A limit that really dropped below the proven rate throttles
// again within seconds and is decreased at the next throttle after these.
const maxExcused = 2

// initial returns s with the adaptive part reset when the entry is new or stale. The
// schedule (TAT, pause, epoch) is kept: it is what keeps replicas apart.
func (l Limit) initial(s quotaState, now time.Time) quotaState {
	c := l.ceiling()
	if s.Rate <= 0 || s.Ceiling != c || now.UnixNano()-s.Updated > int64(forgetAfter) {
		s.Rate = math.Min(l.StartRate, c)
		s.Ceiling = c
		s.Limit, s.LimitAt, s.Sure, s.Hold, s.Strikes = 0, 0, false, 0, 0
		s.RunRate, s.RunTime, s.ShortRun = 0, 0, false
		s.ProofMin, s.ProofTime, s.Proven, s.Excused = 0, 0, 0, 0
	}
	s.Updated = now.UnixNano()
	return s
}

// ran adds a reservation of n slots spaced interval (ns) apart to the current run: the
// stretch of schedule since the last throttle. The run counts reserved time only, so
// idle gaps (demand below the rate) do not count, and RunRate is the mean rate of its
// last MinRun of reserved time (an exponential average over reserved time): the rate
// the server took while demand filled the schedule, just before it throttled.
//
// The proof counts the same reserved time since the last decrease (bursts forgiven do
// not end it) in periods of proofRuns windows: a period completed is proof that the
// server took the lowest rate reserved in it, which becomes Proven, and one forgiven
// burst is credited back.
func (s *quotaState) ran(n int, interval float64, window time.Duration) {
	d := float64(n) * interval
	rate := 1e9 / interval
	if s.RunTime == 0 || window <= 0 {
		s.RunRate = rate
	} else {
		s.RunRate += (rate - s.RunRate) * (1 - math.Exp(-d/float64(window)))
	}
	s.RunTime += int64(d)
	if window <= 0 {
		return
	}
	if s.ProofTime == 0 || rate < s.ProofMin {
		s.ProofMin = rate
	}
	s.ProofTime += int64(d)
	if proof := int64(proofRuns * window); s.ProofTime >= proof {
		s.Proven, s.Excused = s.ProofMin, max(s.Excused-1, 0)
		s.ProofTime, s.ProofMin = 0, 0
	}
}

// grow applies n successful calls to s: additive increase. Growth is per second of full
// use (n calls at rate r are n/r seconds), so it does not depend on how many replicas
// report, and an idle quota does not climb.
//
// Below a limit learnt near a throttle (Sure) the rate closes a Recovery fraction of the
// gap to Limit×(1−Margin) per second: the pause already paid for the excess, so
// recovery takes seconds. It holds there for the limit's hold, then probes above it by
// Probe per second (a limit at the configured ceiling has Headroom for margin: the
// target is the ceiling). Below a limit that is only an upper bound (a far throttle) it
// climbs by Climb per second, as with no limit known. The result never exceeds the
// ceiling; a limit is forgotten once the rate passed it by forgetRatio.
func (l Limit) grow(s quotaState, n int, now time.Time) quotaState {
	s = l.initial(s, now)
	if n <= 0 {
		return s
	}
	s.Strikes = 0
	a := l.Adaptive
	if a.Disabled {
		s.Rate = l.ceiling()
		return s
	}
	r := s.Rate
	secs := float64(n) / r
	target := s.Limit * (1 - a.Margin)
	if target >= l.ceiling()*(1-a.Margin) {
		// A throttle at the configured rate: its Headroom is the margin already.
		target = l.ceiling()
	}
	switch {
	case s.Limit > 0 && s.Sure && r < target:
		g := math.Max((target-r)*a.Recovery, r*minStep)
		r = math.Min(r+g*secs, target)
	case s.Limit > 0 && s.Sure && now.Sub(time.Unix(0, s.LimitAt)) < time.Duration(s.Hold):
		// hold just below the limit that throttled us
	case s.Limit > 0 && s.Sure:
		r += r * a.Probe * secs
	default:
		r += r * a.Climb * secs
	}
	if s.Limit > 0 && r > s.Limit*forgetRatio {
		s.Limit, s.LimitAt, s.Sure, s.Hold = 0, 0, false, 0
	}
	s.Rate = math.Min(r, l.ceiling())
	return s
}

// throttle applies one throttle (HTTP 429) of a permit issued at issuedRate in epoch
// issuedEpoch: a shared pause and a multiplicative decrease, once per epoch. A throttle
// from an older epoch was caused before the last decrease took effect: it extends the
// pause by its Retry-After but does not decrease again (one decrease per round trip, as
// in TCP). Without Retry-After the pause is an exponential backoff over consecutive
// throttles with jitter; jitter is a number in [0, 1).
//
// How far to decrease depends on what the run that ended here says about the server's
// limit. A server with a token bucket of rate L and burst b takes a run at rate r > L
// for T = b/(r−L) before it throttles (r = L + b/T): after a run of at least MinRun of
// full use the rate was close to the limit, and the mean rate of the run's last MinRun
// is the estimate.
// A throttle after a short run is near only when it is isolated and at a limit we
// trust: the one learnt, or the configured ceiling before anything is learnt. Near, the
// rate drops by NearBackoff below the estimate, which becomes a Sure limit to recover
// to; far, it halves (Backoff) and the throttled rate is only an upper bound.
//
// A throttle at or below the Proven rate (held for a proof period without a decrease)
// is a burst: arrivals bunched by scheduling or network jitter, since a token bucket
// takes that rate. It pauses (Retry-After or backoff) and restarts the run but keeps
// the rate and the limit, as long as fewer than maxExcused such bursts are outstanding
// (one is credited back per proof period); a throttle beyond that decreases as usual
// and voids the proof.
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
	pause := float64(retryAfter)
	if retryAfter <= 0 {
		d := float64(a.PauseBase) * math.Pow(2, float64(min(s.Strikes-1, 30)))
		pause = math.Min(d, float64(a.PauseMax)) * (0.5 + 0.5*jitter)
		s.Pause = max(s.Pause, nowN+int64(pause))
	}
	runRate, runTime := s.RunRate, time.Duration(s.RunTime)
	s.RunRate, s.RunTime = 0, 0 // the next run starts after the pause
	if a.Disabled {
		return s
	}
	if issuedRate <= 0 {
		issuedRate = s.Rate
	}
	if s.Proven > 0 && issuedRate <= s.Proven {
		if s.Excused < maxExcused {
			s.Excused++
			return s
		}
		s.Proven, s.Excused = 0, 0 // throttled again and again: the limit dropped
	}
	s.ProofMin, s.ProofTime = 0, 0
	long := runTime >= a.MinRun && runTime > 0
	trusted := l.ceiling() // nothing learnt yet: the configured rate
	if s.Limit > 0 {
		trusted = 0
		if s.Sure {
			trusted = s.Limit
		}
	}
	est, near := issuedRate, false
	switch {
	case long:
		est, near = math.Min(issuedRate, math.Max(runRate, issuedRate*a.Backoff)), true
	case trusted > 0 && issuedRate >= trusted*farRatio && !s.ShortRun && s.Strikes == 1:
		near = true
	}
	s.ShortRun = !long
	rate := est * a.Backoff
	if near {
		rate = est * a.NearBackoff
		// Ski rental: holding Margin below the limit costs as much as one more
		// throttle's pause after pause/Margin; probing sooner is cheaper than that.
		s.Hold = int64(math.Min(float64(a.Hold), pause/a.Margin))
	}
	s.Limit, s.LimitAt, s.Sure = est, nowN, near
	s.Rate = math.Max(l.MinRate, math.Min(s.Rate, rate))
	return s
}
