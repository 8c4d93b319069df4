package jobs

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// PollPolicy spaces status calls: the n-th poll of a job waits
// min(Max, Initial × Multiplier^n) scaled by a random factor in [1−Jitter, 1+Jitter), so
// that jobs requested together do not poll together and long reports are polled rarely.
type PollPolicy struct {
	Initial    time.Duration `json:"initial"`
	Max        time.Duration `json:"max"`
	Multiplier float64       `json:"multiplier"`
	Jitter     float64       `json:"jitter"`
}

// DefaultPollPolicy suits report APIs whose reports take minutes to hours.
func DefaultPollPolicy() PollPolicy {
	return PollPolicy{Initial: 20 * time.Second, Max: 5 * time.Minute, Multiplier: 1.5, Jitter: 0.5}
}

// Validate names the wrong field.
func (p PollPolicy) Validate() error {
	var errs []error
	if p.Initial <= 0 {
		errs = append(errs, fmt.Errorf("poll initial %v: must be positive", p.Initial))
	}
	if p.Max < p.Initial {
		errs = append(errs, fmt.Errorf("poll max %v: must be at least initial %v", p.Max, p.Initial))
	}
	if p.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("poll multiplier %v: must be at least 1", p.Multiplier))
	}
	if p.Jitter < 0 || p.Jitter >= 1 {
		errs = append(errs, fmt.Errorf("poll jitter %v: must be in [0, 1)", p.Jitter))
	}
	return errors.Join(errs...)
}

// Interval is the wait before poll number n (0 for the first poll after the request);
// u in [0, 1) draws the jitter.
func (p PollPolicy) Interval(n int, u float64) time.Duration {
	base := float64(p.Initial) * math.Pow(p.Multiplier, float64(n))
	if base > float64(p.Max) || math.IsInf(base, 0) {
		base = float64(p.Max)
	}
	return time.Duration(base * (1 - p.Jitter + 2*p.Jitter*u))
}

// Next is Interval with a random draw.
func (p PollPolicy) Next(n int) time.Duration { return p.Interval(n, rand.Float64()) }
