// Package ratelimit is the rate governor shared by all replicas of a service: one or
// more quotas (requests per second), optional per-key limits inside a quota (for
// example per advertiser profile) and per-host concurrency caps (for example at most 4
// simultaneous requests per sub-domain). The state lives in the JetStream key-value
// bucket sluice-limits, so N replicas together stay within the limits, and it adapts to
// throttling (HTTP 429) with AIMD and shared Retry-After pauses.
//
//	g, err := ratelimit.New(ctx, js, ratelimit.Config{
//		Namespace: "amazonads",
//		Quotas: map[string]ratelimit.QuotaConfig{
//			"status": {Limit: ratelimit.Limit{Rate: 20}, PerKey: &ratelimit.Limit{Rate: 5}},
//		},
//		HostConcurrency: 4,
//	})
//	p, err := g.Acquire(ctx, ratelimit.Request{Quota: "status", Key: profileID, Host: u.Host})
//	… call …
//	p.Release(ctx, ratelimit.Outcome{Kind: ratelimit.Throttled, RetryAfter: ra})
//
// Providers do not call it directly: internal/apiclient acquires and releases a permit
// around every HTTP request.
//
// # Rate: a shared schedule of slots (GCRA) reserved in batches
//
// Each quota, and each key of a per-key limit, is one KV entry (<ns>.q.<quota>,
// <ns>.k.<quota>.<key>) holding the allowed rate r, the theoretical arrival time TAT (the
// end of the last reserved slot), a pause-until time and an epoch. A replica reserves n
// slots with one compare-and-set on the entry's revision:
//
//	start = max(TAT, now − (Burst−1)/r, pause);  slots = start + i/r (i < n);  TAT' = start + n/r
//
// and hands them to its waiting callers, who sleep until their slot. Because every slot
// comes from one sequence whose consecutive slots are 1/r apart, and a compare-and-set
// cannot hand the same interval to two replicas, the slots issued by all replicas
// together number at most Burst + W·r in any window W, for any number of replicas; r
// never exceeds the ceiling Rate×(1−Headroom). A slot is used at or after its time,
// never before.
//
// n is the number of local callers waiting, capped at max(Burst, r×Lookahead) and
// MaxBatch, and a replica does not reserve beyond now+Lookahead (it waits instead), so
// reservations stay short and interleave fairly between replicas.
//
// n is also at least the local demand of the next Lookahead (a decayed count of recent
// Acquire calls), so callers that come back for another permit find a slot already
// reserved; a prefetched slot whose time passes unused is dropped, never used late.
//
// Cost per acquisition: one KV round trip (a JetStream publish with an expected-last-
// subject-sequence header, ~0.2–1 ms on a LAN) per batch, so about 1/n of one per permit.
// BenchmarkAcquire (3 replicas × 16 callers, embedded NATS, 2 cores): at a quota of
// 500/s, 500 permits/s with 0.08 KV writes per permit; at 5000/s, 4840 permits/s with
// 0.05 writes per permit. Conflicts (another replica wrote first) cost one Get and a
// retry. Slow per-key limits (a few per second) cost about one write per permit,
// bounded by those limits. The sluice.ratelimit.kv.writes counter (by result
// ok/conflict/error) measures it in production.
//
// # Dead replicas, restarts, clocks
//
// A replica that dies holding reserved slots wastes at most its reservation: slots are
// never returned, so a lost batch (≤ Lookahead of time) lowers throughput briefly and
// can never cause excess. No lock is held between calls, so nothing deadlocks. State
// survives restarts (file storage), so a restarted service keeps its learnt rate; the
// adaptive memory starts over when it has not been touched for 10 minutes or was learnt
// under another configured ceiling.
// Replicas compare their clocks with TAT and expiry times: a clock skew of δ can add at
// most δ×r slots, so keep replicas NTP-synced (skew ≪ 1/r).
//
// # Concurrency caps: leases with expiry
//
// A host's slots are one KV entry (<ns>.h.<host>) holding a list of leases {id, holder,
// expiry}. Acquiring adds a lease by compare-and-set when fewer than the cap are
// unexpired; releasing removes it. The holder's heartbeat renews the expiry of all its
// leases every LeaseTTL/3 in one write per host. A replica that dies stops renewing, so
// its leases expire after at most LeaseTTL and the slots are free again: no slot is lost
// for longer than LeaseTTL, and no replica waits on another's lock. Local callers for
// the same host queue in FIFO order and only the head competes for the entry; a KV
// watch wakes it when a slot is released, with a poll as a fallback.
//
// # Adaptation (AIMD) shared through the same entry
//
// A throttle report decreases r once per epoch: throttles of permits issued in an older
// epoch were caused before the last decrease and only extend the pause (one decrease per
// round trip, as in TCP). The decrease is Backoff (×0.5) far from the remembered limit
// and NearBackoff (×0.85) near it; the rate that was throttled becomes the remembered
// limit L. Once a few seconds of successes have been counted, the limit is instead the
// accepted rate (an exponentially decayed count of successes): while a server throttles,
// it accepts exactly its quota, so this finds an unknown quota in two or three throttles.
// Retry-After becomes a shared pause (all replicas stop: the pause bumps the epoch, so
// slots already handed out are void and their waiters queue again); without Retry-After
// the pause is an exponential backoff over consecutive throttles with jitter.
//
// Successes raise r, counted per second of full use (n successes at rate r = n/r s), so
// the climb does not depend on the number of replicas and an idle quota does not climb:
// below L it closes half the gap to L×(1−Margin) per second, holds there for Hold, then
// probes above L by 2%/s; with no limit known it climbs by 10%/s up to the ceiling. The
// successes of a replica ride on its next reservation write, so they cost no writes.
//
// Measured with BenchmarkSharedQuota (3 replicas × 8 workers against a GCRA token
// bucket of Q/s, burst 2Q, Retry-After in whole seconds, embedded NATS, N = 20 s of
// calls): configured at the real quota, wall time 1.02× N/Q with no 429 (the 2%
// Headroom); configured at 4× the quota, 1.0× N/Q (Q=20) and 1.04× (Q=5) with 0.7% and
// 1.3% 429s (three throttle events each; the server's burst pays for the discovery).
package ratelimit
