package ratelimit

import (
	"encoding/json"
	"fmt"
	"strings"
)

// quotaState is the shared state of one quota (or one key of a quota), stored as JSON in
// one KV entry and changed only by compare-and-set on the entry's revision. Times are
// Unix nanoseconds.
type quotaState struct {
	// Rate is the allowed rate (requests per second) chosen by the AIMD controller.
	Rate float64 `json:"r"`
	// Ceiling is the configured ceiling the adaptive state was learnt under.
	Ceiling float64 `json:"c"`
	// Updated is when the state was last written.
	Updated int64 `json:"u"`
	// Limit is the estimated limit of the server, learnt from the last throttle; 0 when
	// unknown. Sure says it was learnt near the limit (a long run, or an isolated
	// throttle at a trusted limit): the rate recovers to it quickly. Otherwise it is only
	// an upper bound (the rate was far above the limit) and the rate climbs towards it.
	Limit float64 `json:"l,omitempty"`
	Sure  bool    `json:"ls,omitempty"`
	// LimitAt is when Limit was learnt; Hold is how long (ns) the rate holds below it
	// before probing above.
	LimitAt int64 `json:"la,omitempty"`
	Hold    int64 `json:"lh,omitempty"`
	// TAT (theoretical arrival time) is the end of the last reserved slot: the next slot
	// of the shared schedule cannot start before it.
	TAT int64 `json:"t"`
	// Pause is the time before which no slot may start (Retry-After or backoff).
	Pause int64 `json:"p,omitempty"`
	// Epoch increases on every decrease or pause; slots reserved in an older epoch are
	// void, and a throttle of a permit from an older epoch is not a new signal.
	Epoch uint64 `json:"e"`
	// Strikes counts throttles since the last reported success.
	Strikes int `json:"s,omitempty"`
	// RunTime is the schedule time (ns) reserved since the last throttle, idle gaps
	// excluded, and RunRate the mean rate of its last MinRun: the rate the server took
	// while demand filled the schedule. ShortRun says the run that ended at the last
	// throttle was shorter than MinRun.
	RunRate  float64 `json:"rr,omitempty"`
	RunTime  int64   `json:"rt,omitempty"`
	ShortRun bool    `json:"rs,omitempty"`
	// ProofTime is the schedule time (ns) reserved in the current proof period (proofRuns
	// × MinRun of full use, idle gaps excluded) since the last decrease, and ProofMin the
	// lowest rate reserved in it. Proven is the ProofMin of the last period completed
	// without a decrease: the server took that rate for the whole period, so a throttle
	// at or below it is a burst (arrivals bunched by jitter), not a lower limit. Excused
	// counts bursts forgiven; one is credited back per proof period, and a throttle at
	// or below Proven with maxExcused outstanding decreases as usual.
	ProofMin  float64 `json:"pm,omitempty"`
	ProofTime int64   `json:"pt,omitempty"`
	Proven    float64 `json:"pv,omitempty"`
	Excused   int     `json:"px,omitempty"`
	// Issued and Throttled count slots reserved and throttles reported (for metrics).
	Issued    uint64 `json:"i"`
	Throttled uint64 `json:"x,omitempty"`
}

// lease is one held concurrency slot.
type lease struct {
	ID     string `json:"id"`
	Holder string `json:"h"`
	// Exp is when the lease expires unless its holder renews it (Unix nanoseconds).
	Exp int64 `json:"x"`
}

// leaseSet is the shared state of one host's concurrency slots, stored in one KV entry.
type leaseSet struct {
	Leases []lease `json:"l"`
}

// live returns the leases that have not expired at now.
func (s leaseSet) live(now int64) []lease {
	out := make([]lease, 0, len(s.Leases))
	for _, l := range s.Leases {
		if l.Exp > now {
			out = append(out, l)
		}
	}
	return out
}

func decodeQuota(b []byte) (quotaState, error) {
	var s quotaState
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decode quota state: %w", err)
	}
	return s, nil
}

func decodeLeases(b []byte) (leaseSet, error) {
	var s leaseSet
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decode lease set: %w", err)
	}
	return s, nil
}

// keyToken encodes an arbitrary string as one KV key token: letters, digits, '-' and '_'
// stay, every other byte becomes '=' and two hex digits. It is injective, so distinct
// names never share an entry.
func keyToken(s string) string {
	if s == "" {
		return "="
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// Entry names in the bucket: <ns>.q.<quota>, <ns>.k.<quota>.<key>, <ns>.h.<host>.
func quotaKey(ns, quota string) string { return keyToken(ns) + ".q." + keyToken(quota) }
func perKeyKey(ns, quota, key string) string {
	return keyToken(ns) + ".k." + keyToken(quota) + "." + keyToken(key)
}
func hostKey(ns, host string) string { return keyToken(ns) + ".h." + keyToken(host) }
