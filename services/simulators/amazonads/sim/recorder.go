package sim

import (
	"sort"
	"time"
)

// RateStats is what the simulator recorded for one key (an endpoint class,
// a client, a profile, or a client or profile within a class): totals, the
// largest number of requests in any sliding window of Stats.Window (1 s by
// default) and per-second counts. Requests counts every call that reached
// the throttle (authorized calls), Admitted those it let through.
type RateStats struct {
	Requests            int64         `json:"requests"`
	Admitted            int64         `json:"admitted"`
	MaxInWindow         int64         `json:"maxInWindow"`
	MaxAdmittedInWindow int64         `json:"maxAdmittedInWindow"`
	PerSecond           []SecondCount `json:"perSecond,omitempty"`
}

// SecondCount holds the counts of one clock second (Unix seconds).
type SecondCount struct {
	Second   int64 `json:"second"`
	Requests int64 `json:"requests"`
	Admitted int64 `json:"admitted"`
}

// slidingMax tracks the maximum number of events in any window (t-w, t]
// ending at an event; the maximum over all windows is reached at one of
// those.
type slidingMax struct {
	times []time.Time // events inside the current window, oldest first
	head  int
	max   int64
}

func (s *slidingMax) add(t time.Time, window time.Duration) {
	cut := t.Add(-window)
	for s.head < len(s.times) && !s.times[s.head].After(cut) {
		s.head++
	}
	if s.head > 64 && s.head > len(s.times)/2 { // reclaim the consumed prefix
		s.times = append(s.times[:0], s.times[s.head:]...)
		s.head = 0
	}
	s.times = append(s.times, t)
	s.max = max(s.max, int64(len(s.times)-s.head))
}

// keyRecord is the recorder state of one key.
type keyRecord struct {
	requests, admitted slidingMax
	nRequests          int64
	nAdmitted          int64
	perSecond          []SecondCount // nil when not kept for this key
	keepSeconds        bool
}

func (k *keyRecord) add(t time.Time, admitted bool, window time.Duration, history int) {
	k.nRequests++
	k.requests.add(t, window)
	if admitted {
		k.nAdmitted++
		k.admitted.add(t, window)
	}
	if !k.keepSeconds {
		return
	}
	sec := t.Unix()
	i := sort.Search(len(k.perSecond), func(i int) bool { return k.perSecond[i].Second >= sec })
	if i == len(k.perSecond) || k.perSecond[i].Second != sec {
		k.perSecond = append(k.perSecond, SecondCount{})
		copy(k.perSecond[i+1:], k.perSecond[i:])
		k.perSecond[i] = SecondCount{Second: sec}
	}
	k.perSecond[i].Requests++
	if admitted {
		k.perSecond[i].Admitted++
	}
	if over := len(k.perSecond) - history; over > 0 {
		k.perSecond = append(k.perSecond[:0], k.perSecond[over:]...)
	}
}

func (k *keyRecord) stats() RateStats {
	s := RateStats{
		Requests:            k.nRequests,
		Admitted:            k.nAdmitted,
		MaxInWindow:         k.requests.max,
		MaxAdmittedInWindow: k.admitted.max,
	}
	if len(k.perSecond) > 0 {
		s.PerSecond = append([]SecondCount(nil), k.perSecond...)
	}
	return s
}

// recorder records request times per key. It is not safe for concurrent
// use; the throttler serialises it together with the buckets, so recorded
// times are in admission order.
type recorder struct {
	window  time.Duration
	history int
	keys    map[string]*keyRecord
}

func newRecorder(cfg StatsConfig) *recorder {
	return &recorder{window: cfg.Window, history: cfg.PerSecondHistory, keys: make(map[string]*keyRecord)}
}

// add records one request under key. Per-second counts are kept for every
// key except per-profile ones, whose number grows with the profile count.
func (r *recorder) add(key string, t time.Time, admitted, perProfile bool) {
	k := r.keys[key]
	if k == nil {
		k = &keyRecord{keepSeconds: !perProfile}
		r.keys[key] = k
	}
	k.add(t, admitted, r.window, r.history)
}

func (r *recorder) snapshot() map[string]RateStats {
	out := make(map[string]RateStats, len(r.keys))
	for key, k := range r.keys {
		out[key] = k.stats()
	}
	return out
}
