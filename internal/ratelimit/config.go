package ratelimit

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// DefaultBucket is the JetStream key-value bucket that holds the shared limit state.
const DefaultBucket = "sluice-limits"

// DefaultQuota is the quota a Request without a Quota draws from when the Config names
// more than one quota.
const DefaultQuota = "default"

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultLeaseTTL    = 15 * time.Second
	DefaultLookahead   = 100 * time.Millisecond
	DefaultMaxBatch    = 64
	DefaultHeadroom    = 0.02
	DefaultBackoff     = 0.5
	DefaultNearBackoff = 0.9
	DefaultMargin      = 0.03
	DefaultRecovery    = 1.0
	DefaultClimb       = 0.10
	DefaultProbe       = 0.02
	DefaultHold        = 2 * time.Minute
	DefaultMinRun      = time.Second
	DefaultPauseBase   = 250 * time.Millisecond
	DefaultPauseMax    = 30 * time.Second
)

// Config configures a Governor. Every replica of a service must use the same Namespace
// (usually the provider name) and the same limits: the limits are enforced over the
// union of all replicas that share the Namespace.
type Config struct {
	// Namespace names the governed service; all KV keys live under it. Required.
	Namespace string
	// Bucket is the JetStream key-value bucket for the shared state (DefaultBucket).
	// New creates it (file storage, history 1) when it does not exist.
	Bucket string
	// Quotas are the rate quotas by name; at least one is required. A Request names one.
	Quotas map[string]QuotaConfig
	// HostConcurrency caps simultaneous requests per host across all replicas;
	// zero means no cap. Hosts overrides it per host (a value of zero lifts the cap).
	HostConcurrency int
	// Hosts holds per-host concurrency caps that override HostConcurrency.
	Hosts map[string]int
	// LeaseTTL is how long a concurrency slot survives without a heartbeat: the time after
	// which the slot of a dead replica is recovered (DefaultLeaseTTL). Holders renew
	// their leases every LeaseTTL/3.
	LeaseTTL time.Duration
	// Lookahead bounds how far ahead of now a replica may reserve rate slots, and so the
	// batch size of one reservation (rate × Lookahead) and the slots a dead replica can
	// waste (DefaultLookahead).
	Lookahead time.Duration
	// MaxBatch caps the slots one reservation takes (DefaultMaxBatch).
	MaxBatch int
	// Logger receives warnings (lost leases, state errors); nil discards them.
	Logger *slog.Logger
	// MeterProvider provides the meter for metrics; nil means the global provider.
	MeterProvider metric.MeterProvider
}

// QuotaConfig is one named quota: a shared rate, and optionally a rate per key (for
// example per advertiser profile) that applies on top of it.
type QuotaConfig struct {
	Limit
	// PerKey, when set, limits every distinct Request.Key of this quota separately.
	PerKey *Limit
}

// Limit is an adaptive rate limit.
type Limit struct {
	// Rate is the ceiling in requests per second; the adaptive rate never exceeds
	// Rate × (1 − Headroom). Required, > 0.
	Rate float64
	// Burst is how many permits may be issued at once after an idle period (default 1:
	// strict spacing, the safest against servers with small buckets).
	Burst int
	// StartRate is the rate used before anything is learnt (default: the ceiling).
	StartRate float64
	// MinRate is the floor of the adaptive rate (default Rate/100).
	MinRate float64
	// Headroom keeps the ceiling this fraction below Rate so that network jitter does
	// not push a correctly configured client over a strict server window
	// (DefaultHeadroom; a negative value means none).
	Headroom float64
	// Adaptive tunes the reaction to throttling.
	Adaptive Adaptive
}

// Adaptive tunes the AIMD controller of a Limit. Zero fields take the defaults.
type Adaptive struct {
	// Disabled keeps the rate fixed (Retry-After pauses are still honoured).
	Disabled bool
	// Backoff multiplies the rate on a throttle far from any known limit (DefaultBackoff).
	Backoff float64
	// NearBackoff multiplies the rate on a throttle near the remembered limit
	// (DefaultNearBackoff).
	NearBackoff float64
	// Margin keeps the recovered rate this fraction below the remembered limit
	// (DefaultMargin).
	Margin float64
	// Recovery is the fraction of the gap to the target closed per second of full use
	// (DefaultRecovery).
	Recovery float64
	// Climb is the relative growth per second of full use when no limit is known
	// (DefaultClimb).
	Climb float64
	// Probe is the relative growth per second of full use above the remembered limit,
	// once Hold has passed without a throttle (DefaultProbe).
	Probe float64
	// Hold bounds how long the rate stays at the target below a remembered limit before
	// it probes above it (DefaultHold). The hold is the pause of the throttle divided by
	// Margin when that is shorter: by then the margin has cost as much throughput as the
	// pause of one more throttle would.
	Hold time.Duration
	// MinRun is the least time of full use between two throttles for the mean rate of
	// that run to count as an estimate of the server's limit (DefaultMinRun). A server
	// with a burst of b calls lets a run at rate r above its limit L last b/(r−L), and
	// the run's mean rate overestimates L by b/T; a throttle after a shorter run says
	// only that the rate was above the limit.
	MinRun time.Duration
	// PauseBase and PauseMax bound the shared exponential pause (with jitter) taken on
	// a throttle without Retry-After (DefaultPauseBase, DefaultPauseMax).
	PauseBase time.Duration
	PauseMax  time.Duration
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.Lookahead == 0 {
		c.Lookahead = DefaultLookahead
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	qs := make(map[string]QuotaConfig, len(c.Quotas))
	for name, q := range c.Quotas {
		q.Limit = q.Limit.WithDefaults()
		if q.PerKey != nil {
			k := q.PerKey.WithDefaults()
			q.PerKey = &k
		}
		qs[name] = q
	}
	c.Quotas = qs
	return c
}

// WithDefaults returns a copy of l with zero fields set to their defaults.
func (l Limit) WithDefaults() Limit {
	if l.Burst == 0 {
		l.Burst = 1
	}
	if l.Headroom == 0 {
		l.Headroom = DefaultHeadroom
	} else if l.Headroom < 0 {
		l.Headroom = 0
	}
	if l.StartRate == 0 {
		l.StartRate = l.ceiling()
	}
	if l.MinRate == 0 {
		l.MinRate = l.Rate / 100
	}
	l.Adaptive = l.Adaptive.WithDefaults()
	return l
}

// WithDefaults returns a copy of a with zero fields set to their defaults.
func (a Adaptive) WithDefaults() Adaptive {
	set := func(p *float64, d float64) {
		if *p == 0 {
			*p = d
		}
	}
	set(&a.Backoff, DefaultBackoff)
	set(&a.NearBackoff, DefaultNearBackoff)
	set(&a.Margin, DefaultMargin)
	set(&a.Recovery, DefaultRecovery)
	set(&a.Climb, DefaultClimb)
	set(&a.Probe, DefaultProbe)
	if a.Hold == 0 {
		a.Hold = DefaultHold
	}
	if a.MinRun == 0 {
		a.MinRun = DefaultMinRun
	}
	if a.PauseBase == 0 {
		a.PauseBase = DefaultPauseBase
	}
	if a.PauseMax == 0 {
		a.PauseMax = DefaultPauseMax
	}
	return a
}

// ceiling is the highest rate the governor ever allows.
func (l Limit) ceiling() float64 {
	h := l.Headroom
	if h < 0 {
		h = 0
	}
	return l.Rate * (1 - h)
}

// Validate reports every invalid field of c by its path (for example
// `Quotas["default"].Rate`). Zero fields that have defaults are valid.
func (c Config) Validate() error {
	var errs []error
	if c.Namespace == "" {
		errs = append(errs, errors.New("ratelimit config: Namespace: required"))
	}
	if len(c.Quotas) == 0 {
		errs = append(errs, errors.New("ratelimit config: Quotas: at least one quota is required"))
	}
	if c.HostConcurrency < 0 {
		errs = append(errs, fmt.Errorf("ratelimit config: HostConcurrency: %d is negative", c.HostConcurrency))
	}
	for h, n := range c.Hosts {
		if n < 0 {
			errs = append(errs, fmt.Errorf("ratelimit config: Hosts[%q]: %d is negative", h, n))
		}
	}
	if c.LeaseTTL < 0 || (c.LeaseTTL > 0 && c.LeaseTTL < 100*time.Millisecond) {
		errs = append(errs, fmt.Errorf("ratelimit config: LeaseTTL: %v is below 100ms", c.LeaseTTL))
	}
	if c.Lookahead < 0 {
		errs = append(errs, fmt.Errorf("ratelimit config: Lookahead: %v is negative", c.Lookahead))
	}
	if c.MaxBatch < 0 {
		errs = append(errs, fmt.Errorf("ratelimit config: MaxBatch: %d is negative", c.MaxBatch))
	}
	names := make([]string, 0, len(c.Quotas))
	for name := range c.Quotas {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		q := c.Quotas[name]
		if name == "" {
			errs = append(errs, errors.New(`ratelimit config: Quotas[""]: a quota needs a name`))
		}
		path := fmt.Sprintf("Quotas[%q].", name)
		errs = append(errs, q.Limit.validate(path)...)
		if q.PerKey != nil {
			errs = append(errs, q.PerKey.validate(path+"PerKey.")...)
		}
	}
	return errors.Join(errs...)
}

// Validate reports the invalid fields of l. Zero fields that have defaults are valid.
func (l Limit) Validate() error { return errors.Join(l.validate("")...) }

func (l Limit) validate(path string) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(path+format, args...)) }
	if !(l.Rate > 0) || math.IsInf(l.Rate, 0) {
		bad("Rate: %v must be a finite number > 0", l.Rate)
	}
	if l.Burst < 0 {
		bad("Burst: %d is negative", l.Burst)
	}
	if l.Headroom >= 0.5 {
		bad("Headroom: %v must be below 0.5", l.Headroom)
	}
	if l.StartRate < 0 || (l.Rate > 0 && l.StartRate > l.Rate) {
		bad("StartRate: %v must be in (0, Rate=%v]", l.StartRate, l.Rate)
	}
	if l.MinRate < 0 || (l.Rate > 0 && l.MinRate > l.Rate) {
		bad("MinRate: %v must be in (0, Rate=%v]", l.MinRate, l.Rate)
	}
	if l.StartRate > 0 && l.MinRate > l.StartRate {
		bad("MinRate: %v is above StartRate %v", l.MinRate, l.StartRate)
	}
	return append(errs, l.Adaptive.validate(path+"Adaptive.")...)
}

// Validate reports the invalid fields of a. Zero fields are valid (defaults).
func (a Adaptive) Validate() error { return errors.Join(a.validate("")...) }

func (a Adaptive) validate(path string) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(path+format, args...)) }
	for _, f := range []struct {
		name string
		v    float64
	}{{"Backoff", a.Backoff}, {"NearBackoff", a.NearBackoff}, {"Margin", a.Margin}} {
		if f.v < 0 || f.v >= 1 {
			bad("%s: %v must be in (0, 1)", f.name, f.v)
		}
	}
	if a.Backoff > 0 && a.NearBackoff > 0 && a.NearBackoff < a.Backoff {
		bad("NearBackoff: %v is below Backoff %v", a.NearBackoff, a.Backoff)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"Recovery", a.Recovery}, {"Climb", a.Climb}, {"Probe", a.Probe}} {
		if f.v < 0 || f.v > 10 {
			bad("%s: %v must be in (0, 10]", f.name, f.v)
		}
	}
	if a.Hold < 0 {
		bad("Hold: %v is negative", a.Hold)
	}
	if a.MinRun < 0 {
		bad("MinRun: %v is negative", a.MinRun)
	}
	if a.PauseBase < 0 {
		bad("PauseBase: %v is negative", a.PauseBase)
	}
	if a.PauseMax < 0 || (a.PauseMax > 0 && a.PauseMax < a.PauseBase) {
		bad("PauseMax: %v must be ≥ PauseBase %v", a.PauseMax, a.PauseBase)
	}
	return errs
}
