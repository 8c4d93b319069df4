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
// Likewise a caller whose timer wakes later than the stale-slot tolerance (a stalled
// process, GC) gives its slot up and queues for a fresh one, so late wake-ups cannot
// leave together and spend the server's burst (counted as sluice.ratelimit.late).
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
// round trip, as in TCP). Retry-After becomes a shared pause (all replicas stop: the
// pause bumps the epoch, so slots already handed out are void and their waiters queue
// again); without Retry-After the pause is an exponential backoff over consecutive
// throttles with jitter. The pause already costs every replica its length, and the
// server's bucket refills meanwhile, so the decrease need not pay for the excess again.
//
// How far r drops depends on what the run that ended in the throttle says about the
// server's limit L. Every reservation adds its slots to the run (the schedule since the
// last throttle, counted in reserved time, so idle gaps where demand was below r do not
// count). A token bucket of rate L and burst b lets a run at r > L last b/(r−L) before
// it throttles, so:
//   - after a run of at least MinRun (1 s) of full use, r was close to L: the mean rate
//     of the run's last MinRun is the estimate of L;
//   - after a shorter run the throttle is near only if it is isolated (the run before
//     was long, or this is the first throttle) and at a limit we trust: the one
//     learnt, or the configured ceiling before anything is learnt. A 429 caused by
//     scheduling jitter at the configured quota is such a throttle;
//   - otherwise r was far above L, and the throttled rate is only an upper bound.
//
// Near, r drops to the estimate × NearBackoff (0.9), and the estimate becomes the
// remembered limit: r recovers to L×(1−Margin) closing Recovery (all) of the gap per
// second of full use, so within seconds (to the ceiling when L is the ceiling: its
// Headroom is the margin). It holds there for pause/Margin (at most Hold): by then the
// margin has given up as much throughput as one more throttle's pause would, so probing
// sooner would not pay and later would waste (ski rental). Then it probes above L by
// 2%/s and forgets L at 1.1 L. Far, r halves (Backoff) and climbs by 10%/s (Climb), as
// with no limit known, until the next throttle or past the bound. Growth is counted
// per second of full use (n successes at rate r = n/r s), so the climb does not depend
// on the number of replicas and an idle quota does not climb. The successes and the
// run of a replica ride on its next reservation write, so they cost no writes.
//
// Bursts are forgiven: each 5 s of full use without a decrease proves the lowest rate
// reserved in it. A throttle at or below the proven rate is a burst (jitter), not the
// limit: it still pauses (Retry-After, or backoff) but keeps the rate and the learned
// limit. At most two such bursts may be outstanding, one credited back per 5 s; past
// that the next throttle decreases as above and the proven rate is forgotten.
//
// Started 4× above a quota of 100/s with burst 5 (TestControllerDynamics), it takes
// one near and two far throttles (392 → 353 → 177 → 89), climbs to the limit in about
// two seconds and learns it from that run (≈100.4/s), then throttles once per hold
// (about 35 s) when it probes: 93% of the quota over two minutes. At the quota, one
// jitter throttle costs the one-second pause and a dip of a second or two.
//
// Measured with BenchmarkSharedQuota (3 replicas × 8 workers against a GCRA token
// bucket of Q/s, burst 2Q, Retry-After in whole seconds, embedded NATS, N = 20 s of
// calls): configured at the real quota, wall time 1.02× N/Q with no 429 (the 2%
// Headroom); configured at 4× the quota, 1.0× N/Q (Q=20) and 1.04× (Q=5) with 0.7% and
// 1.3% 429s (three throttle events each; the server's burst pays for the discovery).
package ratelimit
