package apiclient

import (
	"errors"
	"fmt"
	"time"
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultUserAgent             = "sluice/1 (+https://github.com/sluice-dev/sluice)"
	DefaultMaxAttempts           = 6
	DefaultMaxElapsed            = 5 * time.Minute
	DefaultInitialBackoff        = 500 * time.Millisecond
	DefaultMaxBackoff            = 30 * time.Second
	DefaultMultiplier            = 2.0
	DefaultJitter                = 0.5
	DefaultMaxRetryAfter         = 5 * time.Minute
	DefaultErrorBodyLimit        = 4 << 10
	DefaultResponseHeaderTimeout = time.Minute
	DefaultIdleReadTimeout       = time.Minute
)

// Config configures a Client. Zero fields take the defaults.
type Config struct {
	// UserAgent is sent with every request that does not set one (DefaultUserAgent).
	UserAgent string
	// Quota is the governor quota of calls that do not name one with WithQuota
	// (empty: the governor's only or default quota).
	Quota string
	// MaxAttempts bounds the attempts of one Do, the first included (DefaultMaxAttempts).
	MaxAttempts int
	// MaxElapsed bounds the time one Do spends retrying (DefaultMaxElapsed).
	MaxElapsed time.Duration
	// InitialBackoff, MaxBackoff, Multiplier and Jitter (the randomization factor) shape
	// the exponential backoff between retries of 5xx, timeouts, connection errors and
	// 429s without Retry-After.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Multiplier     float64
	Jitter         float64
	// MaxRetryAfter is the longest Retry-After the client waits for; a longer one ends
	// the retries with the 429's StatusError (DefaultMaxRetryAfter).
	MaxRetryAfter time.Duration
	// ErrorBodyLimit is how much of an error response's body a StatusError keeps
	// (DefaultErrorBodyLimit).
	ErrorBodyLimit int
	// ResponseHeaderTimeout bounds the wait for response headers with the default
	// transport (DefaultResponseHeaderTimeout); it does not limit streaming a body.
	ResponseHeaderTimeout time.Duration
	// IdleReadTimeout bounds how long a read of a response body may wait for the next
	// byte (DefaultIdleReadTimeout). A server that stalls mid-body would otherwise hold
	// the call's concurrency slot, and the task that reads it, forever; when it fires the
	// body is closed (its slot released) and the read fails with an *IdleTimeoutError.
	// Time the caller spends between reads does not count.
	IdleReadTimeout time.Duration
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxElapsed == 0 {
		c.MaxElapsed = DefaultMaxElapsed
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = DefaultInitialBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Multiplier == 0 {
		c.Multiplier = DefaultMultiplier
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultJitter
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.ErrorBodyLimit == 0 {
		c.ErrorBodyLimit = DefaultErrorBodyLimit
	}
	if c.ResponseHeaderTimeout == 0 {
		c.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if c.IdleReadTimeout == 0 {
		c.IdleReadTimeout = DefaultIdleReadTimeout
	}
	return c
}

// Validate reports every invalid field of c by name. Zero fields are valid (defaults).
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.MaxAttempts < 0 {
		bad("MaxAttempts: %d is negative", c.MaxAttempts)
	}
	if c.MaxElapsed < 0 {
		bad("MaxElapsed: %v is negative", c.MaxElapsed)
	}
	if c.InitialBackoff < 0 {
		bad("InitialBackoff: %v is negative", c.InitialBackoff)
	}
	if c.MaxBackoff < 0 || (c.MaxBackoff > 0 && c.MaxBackoff < c.InitialBackoff) {
		bad("MaxBackoff: %v must be ≥ InitialBackoff %v", c.MaxBackoff, c.InitialBackoff)
	}
	if c.Multiplier != 0 && c.Multiplier < 1 {
		bad("Multiplier: %v must be ≥ 1", c.Multiplier)
	}
	if c.Jitter < 0 || c.Jitter > 1 {
		bad("Jitter: %v must be in [0, 1]", c.Jitter)
	}
	if c.MaxRetryAfter < 0 {
		bad("MaxRetryAfter: %v is negative", c.MaxRetryAfter)
	}
	if c.ErrorBodyLimit < 0 {
		bad("ErrorBodyLimit: %d is negative", c.ErrorBodyLimit)
	}
	if c.ResponseHeaderTimeout < 0 {
		bad("ResponseHeaderTimeout: %v is negative", c.ResponseHeaderTimeout)
	}
	if c.IdleReadTimeout < 0 {
		bad("IdleReadTimeout: %v is negative", c.IdleReadTimeout)
	}
	return errors.Join(errs...)
}
