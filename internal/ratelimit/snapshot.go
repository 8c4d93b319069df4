package ratelimit

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// QuotaSnapshot is what an operator sees of one quota's shared state.
type QuotaSnapshot struct {
	// Namespace is the governor's namespace: the provider name for extractors.
	Namespace string
	Quota     string
	// Rate is the allowed rate now (requests per second, all replicas together) and
	// Ceiling the configured one.
	Rate, Ceiling float64
	// PauseUntil is the end of the current shared pause (zero when none was set).
	PauseUntil time.Time
	// Issued counts slots reserved and Throttled the throttles charged to the quota.
	Issued, Throttled uint64
	// KeyThrottled sums the throttles charged to the quota's per-key limits, over Keys keys.
	KeyThrottled uint64
	Keys         int
}

// Snapshot reads every quota of every namespace in the limits bucket kv, sorted by
// namespace and quota. It reads the entries this package writes, so readers such as
// `sluice status` never depend on the storage format.
func Snapshot(ctx context.Context, kv jetstream.KeyValue) ([]QuotaSnapshot, error) {
	// A watch replays the latest value of every key in one pass, which scales to
	// thousands of per-key entries better than a Get per key.
	w, err := kv.WatchFiltered(ctx, []string{"*.q.*", "*.k.*.*"}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read limits: %w", err)
	}
	defer w.Stop() //nolint:errcheck // nothing to do about a failed unsubscribe
	byQuota := map[[2]string]*QuotaSnapshot{}
	for {
		var e jetstream.KeyValueEntry
		select {
		case e = <-w.Updates():
		case <-ctx.Done():
			return nil, fmt.Errorf("read limits: %w", ctx.Err())
		}
		if e == nil {
			break // every current value seen
		}
		parts := strings.Split(e.Key(), ".")
		st, err := decodeQuota(e.Value())
		if err != nil || len(parts) < 3 {
			continue // not a quota entry
		}
		id := [2]string{decodeKeyToken(parts[0]), decodeKeyToken(parts[2])}
		q := byQuota[id]
		if q == nil {
			q = &QuotaSnapshot{Namespace: id[0], Quota: id[1]}
			byQuota[id] = q
		}
		switch parts[1] {
		case "q":
			q.Rate, q.Ceiling, q.Issued, q.Throttled = st.Rate, st.Ceiling, st.Issued, st.Throttled
			if st.Pause > 0 {
				q.PauseUntil = time.Unix(0, st.Pause)
			}
		case "k":
			q.KeyThrottled += st.Throttled
			q.Keys++
		}
	}
	out := make([]QuotaSnapshot, 0, len(byQuota))
	for _, q := range byQuota {
		out = append(out, *q)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Quota < out[j].Quota
	})
	return out, nil
}

// decodeKeyToken reverses keyToken.
func decodeKeyToken(s string) string {
	if s == "=" {
		return ""
	}
	if !strings.Contains(s, "=") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '=' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
