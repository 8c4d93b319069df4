package sim

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// verdict is the throttler's answer to one request.
type verdict struct {
	admitted bool
	// retryAfter is how long until the request would be admitted.
	retryAfter time.Duration
	// omitRetryAfter drops the Retry-After header from the 429.
	omitRetryAfter bool
}

// throttler applies the token buckets of ThrottleConfig and records every
// request it sees, under one lock so that recorded times are in admission
// order.
type throttler struct {
	cfg ThrottleConfig

	mu      sync.Mutex
	buckets map[string]*tokenBucket
	rec     *recorder
	rng     *rand.Rand
}

func newThrottler(cfg ThrottleConfig, stats StatsConfig, seed uint64) *throttler {
	return &throttler{
		cfg:     cfg,
		buckets: make(map[string]*tokenBucket),
		rec:     newRecorder(stats),
		rng:     rand.New(rand.NewPCG(seed, hashString("throttle"))),
	}
}

// limit returns the class limit and whether Global also applies.
func (t *throttler) limit(class string) (Limit, bool) {
	switch class {
	case ClassToken:
		return t.cfg.Token, false
	case ClassProfiles:
		return t.cfg.Profiles, true
	case ClassCreate:
		return t.cfg.Create, true
	case ClassStatus:
		return t.cfg.Status, true
	default:
		return Limit{}, false
	}
}

// bucket returns the bucket for key, creating it full.
func (t *throttler) bucket(key string, rate float64, burst int) *tokenBucket {
	b := t.buckets[key]
	if b == nil {
		b = newTokenBucket(rate, burst)
		t.buckets[key] = b
	}
	return b
}

// admit decides a request of class from clientID for profileID (0 when the
// call has no profile scope) at now. A request is admitted only when every
// bucket that applies has a token; then each loses one.
func (t *throttler) admit(class, clientID string, profileID int64, now time.Time) verdict {
	t.mu.Lock()
	defer t.mu.Unlock()

	lim, global := t.limit(class)
	var bs []*tokenBucket
	add := func(prefix string, l Limit) {
		if l.ClientRate > 0 && clientID != "" {
			bs = append(bs, t.bucket(prefix+"|client|"+clientID, l.ClientRate, l.ClientBurst))
		}
		if l.ProfileRate > 0 && profileID != 0 {
			bs = append(bs, t.bucket(prefix+"|profile|"+strconv.FormatInt(profileID, 10), l.ProfileRate, l.ProfileBurst))
		}
	}
	add(class, lim)
	if global {
		add("global", t.cfg.Global)
	}
	var v verdict
	for _, b := range bs {
		v.retryAfter = max(v.retryAfter, b.wait(now))
	}
	v.admitted = v.retryAfter == 0
	if v.admitted {
		for _, b := range bs {
			b.take(now)
		}
	} else {
		v.omitRetryAfter = t.rng.Float64() < lim.NoRetryAfterRate
	}
	t.record(class, clientID, profileID, now, v.admitted)
	return v
}

// record adds the request to the recorder under its class, and for API
// calls under "api", its client and its profile (each also per class).
func (t *throttler) record(class, clientID string, profileID int64, now time.Time, admitted bool) {
	t.rec.add(class, now, admitted, false)
	if class == ClassToken || class == ClassDownload {
		return
	}
	t.rec.add(KeyAPI, now, admitted, false)
	if clientID != "" {
		t.rec.add("client:"+clientID, now, admitted, false)
		t.rec.add("client:"+clientID+":"+class, now, admitted, false)
	}
	if profileID != 0 {
		p := "profile:" + strconv.FormatInt(profileID, 10)
		t.rec.add(p, now, admitted, true)
		t.rec.add(p+":"+class, now, admitted, true)
	}
}

// recordOnly records an unthrottled request (downloads).
func (t *throttler) recordOnly(class string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.record(class, "", 0, now, true)
}

func (t *throttler) snapshot() map[string]RateStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rec.snapshot()
}

// reset empties the buckets and the recorder.
func (t *throttler) reset(stats StatsConfig) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buckets = make(map[string]*tokenBucket)
	t.rec = newRecorder(stats)
}

// KeyAPI is the recorder key of all API calls (profiles, create, status).
// Other keys: the class name ("create"), "client:<id>", "client:<id>:<class>",
// "profile:<id>" and "profile:<id>:<class>".
const KeyAPI = "api"

// retryAfterValue renders a Retry-After header: whole seconds rounded up,
// at least 1, or with fractional set seconds with three decimals.
func retryAfterValue(d time.Duration, fractional bool) string {
	if fractional {
		return strconv.FormatFloat(max(d.Seconds(), 0.001), 'f', 3, 64)
	}
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}
