package ratelimit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// releaseTimeout bounds the writes of Release, which run even when the caller's context
// is already cancelled (a slot must be given back either way).
const releaseTimeout = 5 * time.Second

// Request names what one call draws from.
type Request struct {
	// Quota is the quota name; empty means the only quota, or DefaultQuota.
	Quota string
	// Key selects the per-key limit of the quota (for example a profile id); empty, or a
	// quota without PerKey, means the quota alone.
	Key string
	// Host is the host whose concurrency cap applies (for example req.URL.Host); empty
	// means no concurrency cap.
	Host string
}

// OutcomeKind says what the server made of a call.
type OutcomeKind uint8

// Outcome kinds.
const (
	// Success: the server answered without throttling (any status but 429 and 5xx).
	// Successes raise the allowed rate.
	Success OutcomeKind = iota
	// Throttled: the server answered 429 (too many requests). It lowers the rate and
	// pauses the quota for RetryAfter, or for a backoff when RetryAfter is zero.
	Throttled
	// Failed: no answer about the rate (5xx, timeout, connection error, cancelled).
	Failed
)

// Scope says which limit a throttle is charged to.
type Scope uint8

// Scopes.
const (
	// ScopeAuto charges the quota and, when the permit has one, the per-key limit: a
	// 429 rarely says which limit it hit, and slowing both is the safe reading (a per-key
	// limit set right seldom throttles, so the cost to the quota is small).
	ScopeAuto Scope = iota
	// ScopeQuota charges the quota only.
	ScopeQuota
	// ScopeKey charges the per-key limit only (the quota when there is none), for APIs
	// that say a throttle is per key.
	ScopeKey
)

// Outcome is reported when a permit is released.
type Outcome struct {
	Kind OutcomeKind
	// RetryAfter is the server's Retry-After for a throttle (zero when absent).
	RetryAfter time.Duration
	Scope      Scope
}

// Permit allows one call. Release it exactly once when the call is over (for a
// streamed response: when the body is closed); later calls of Release do nothing.
type Permit struct {
	g       *Governor
	quota   grant
	perKey  *grant
	host    *hostSlots
	leaseID string
	waited  time.Duration
	once    sync.Once
	err     error
}

// Scheduled is the time the permit's quota slot started: the schedule the governor
// enforces (slots of all replicas never exceed the quota in any window).
func (p *Permit) Scheduled() time.Time { return p.quota.at }

// Waited is how long Acquire waited for this permit.
func (p *Permit) Waited() time.Duration { return p.waited }

// Rate is the allowed rate of the quota when the permit was issued.
func (p *Permit) Rate() float64 { return p.quota.rate }

// Release reports the outcome and frees the permit's concurrency slot. It proceeds
// when ctx is cancelled (bounded by a timeout of its own); its error says only that the
// shared state could not be written (the slot then expires after LeaseTTL).
func (p *Permit) Release(ctx context.Context, o Outcome) error {
	p.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		var errs []error
		switch o.Kind {
		case Success:
			p.quota.b.succeeded()
			if p.perKey != nil {
				p.perKey.b.succeeded()
			}
		case Throttled:
			for _, gr := range p.charged(o.Scope) {
				p.g.metrics.throttled(ctx, gr.b)
				errs = append(errs, gr.b.throttled(ctx, gr, o.RetryAfter))
			}
		}
		if p.host != nil {
			errs = append(errs, p.host.release(ctx, p.leaseID))
		}
		p.err = errors.Join(errs...)
	})
	return p.err
}

func (p *Permit) charged(s Scope) []grant {
	switch {
	case p.perKey == nil || s == ScopeQuota:
		return []grant{p.quota}
	case s == ScopeKey:
		return []grant{*p.perKey}
	default:
		return []grant{p.quota, *p.perKey}
	}
}
