package ratelimit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Three replicas with eight busy callers each share a quota of 50/s for two seconds:
// the permits' slots never exceed the quota in any one-second window.
func TestReplicasNeverExceedQuota(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	const rate = 50.0
	cfg := Config{Namespace: uniqueNamespace(t), Quotas: map[string]QuotaConfig{"api": {Limit: Limit{Rate: rate}}}}
	gs := replicas(t, url, 3, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var (
		mu        sync.Mutex
		scheduled []time.Time
		returned  []time.Time
		wg        sync.WaitGroup
	)
	for _, g := range gs {
		for range 8 {
			wg.Go(func() {
				for {
					p, err := g.Acquire(ctx, Request{Quota: "api"})
					if err != nil {
						if !errors.Is(err, context.DeadlineExceeded) {
							t.Errorf("acquire: %v", err)
						}
						return
					}
					mu.Lock()
					scheduled = append(scheduled, p.Scheduled())
					returned = append(returned, time.Now())
					mu.Unlock()
					_ = p.Release(ctx, Outcome{Kind: Success})
				}
			})
		}
	}
	wg.Wait()
	slices.SortFunc(scheduled, func(a, b time.Time) int { return a.Compare(b) })
	slices.SortFunc(returned, func(a, b time.Time) int { return a.Compare(b) })
	got := maxInWindow(scheduled, time.Second)
	t.Logf("%d permits in 2s; max per 1s window: %d scheduled, %d observed on return", len(scheduled), got, maxInWindow(returned, time.Second))
	if got > int(rate) {
		t.Errorf("max permits in a 1s window = %d, quota %v", got, rate)
	}
	if len(scheduled) < int(rate) { // liveness, not speed: 2s at ~49/s is ~98
		t.Errorf("only %d permits in 2s", len(scheduled))
	}
}

// Per-key limits hold per key while the quota holds across keys.
func TestPerKeyLimit(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	cfg := Config{Namespace: uniqueNamespace(t), Quotas: map[string]QuotaConfig{
		"reports": {Limit: Limit{Rate: 100}, PerKey: &Limit{Rate: 10}},
	}}
	gs := replicas(t, url, 2, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var (
		mu    sync.Mutex
		byKey = map[string][]time.Time{}
		wg    sync.WaitGroup
	)
	for i, g := range gs {
		for _, key := range []string{"p1", "p2"} {
			for range 3 {
				wg.Go(func() {
					for {
						p, err := g.Acquire(ctx, Request{Quota: "reports", Key: key})
						if err != nil {
							return
						}
						mu.Lock()
						byKey[key] = append(byKey[key], p.perKey.at)
						mu.Unlock()
						_ = p.Release(ctx, Outcome{})
					}
				})
			}
		}
		_ = i
	}
	wg.Wait()
	for key, ts := range byKey {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		if got := maxInWindow(ts, time.Second); got > 10 {
			t.Errorf("key %s: %d permits in a 1s window, limit 10", key, got)
		}
		if len(ts) < 5 {
			t.Errorf("key %s: only %d permits", key, len(ts))
		}
	}
}

// Replicas sharing a host cap of 3 never hold more than 3 slots at once.
func TestHostConcurrencyCap(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	cfg := Config{
		Namespace: uniqueNamespace(t), HostConcurrency: 3,
		Quotas: map[string]QuotaConfig{"q": {Limit: Limit{Rate: 1000, Burst: 100}}},
	}
	gs := replicas(t, url, 3, cfg)
	var inFlight, peak, done atomic.Int64
	var wg sync.WaitGroup
	ctx := context.Background()
	for _, g := range gs {
		for range 5 {
			wg.Go(func() {
				for range 6 {
					p, err := g.Acquire(ctx, Request{Host: "reports.example.com"})
					if err != nil {
						t.Errorf("acquire: %v", err)
						return
					}
					n := inFlight.Add(1)
					for {
						old := peak.Load()
						if n <= old || peak.CompareAndSwap(old, n) {
							break
						}
					}
					time.Sleep(5 * time.Millisecond)
					inFlight.Add(-1)
					if err := p.Release(ctx, Outcome{}); err != nil {
						t.Errorf("release: %v", err)
					}
					done.Add(1)
				}
			})
		}
	}
	wg.Wait()
	t.Logf("%d calls, peak concurrency %d", done.Load(), peak.Load())
	if peak.Load() > 3 {
		t.Errorf("peak concurrency %d > cap 3", peak.Load())
	}
}

// A replica that dies holding slots loses them after LeaseTTL; a live one keeps them.
func TestLeaseExpiresWhenHolderDies(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	const ttl = 600 * time.Millisecond
	cfg := Config{
		Namespace: uniqueNamespace(t), HostConcurrency: 2, LeaseTTL: ttl,
		Quotas: map[string]QuotaConfig{"q": {Limit: Limit{Rate: 1000, Burst: 10}}},
	}
	ctx := context.Background()
	gs := replicas(t, url, 3, cfg)
	dying, live, other := gs[0], gs[1], gs[2]

	// The live replica holds one slot for more than two TTLs; heartbeats keep it.
	held, err := live.Acquire(ctx, Request{Host: "h"})
	if err != nil {
		t.Fatal(err)
	}
	// The dying one takes the other slot and vanishes without releasing it.
	if _, err := dying.Acquire(ctx, Request{Host: "h"}); err != nil {
		t.Fatal(err)
	}
	dying.Close()

	// No slot is free now.
	short, cancel := context.WithTimeout(ctx, ttl/4)
	_, err = other.Acquire(short, Request{Host: "h"})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire while full: err = %v, want deadline exceeded", err)
	}
	// The dead replica's slot comes back after its lease expires.
	wait, cancel := context.WithTimeout(ctx, 5*ttl)
	defer cancel()
	began := time.Now()
	p, err := other.Acquire(wait, Request{Host: "h"})
	if err != nil {
		t.Fatalf("dead replica's slot not recovered: %v", err)
	}
	t.Logf("dead replica's slot recovered after %v", time.Since(began))
	// The live replica's slot was renewed all along: still no third slot.
	time.Sleep(ttl) // well past the live lease's first expiry
	short, cancel = context.WithTimeout(ctx, ttl)
	_, err = other.Acquire(short, Request{Host: "h"})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("live lease was lost: err = %v", err)
	}
	if err := held.Release(ctx, Outcome{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Release(ctx, Outcome{}); err != nil {
		t.Fatal(err)
	}
	quick, cancel := context.WithTimeout(ctx, ttl/2)
	defer cancel()
	q, err := other.Acquire(quick, Request{Host: "h"})
	if err != nil {
		t.Fatalf("released slot not free: %v", err)
	}
	_ = q.Release(ctx, Outcome{})
}

// A Retry-After reported by one replica pauses the quota on every replica.
func TestRetryAfterPausesAllReplicas(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	cfg := Config{Namespace: uniqueNamespace(t), Quotas: map[string]QuotaConfig{"q": {Limit: Limit{Rate: 100}}}}
	gs := replicas(t, url, 2, cfg)
	a, b := gs[0], gs[1]
	ctx := context.Background()
	p, err := a.Acquire(ctx, Request{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Release(ctx, Outcome{Kind: Throttled, RetryAfter: 400 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(ctx, "q", "")
	if err != nil {
		t.Fatal(err)
	}
	if st.PauseUntil.IsZero() {
		t.Fatal("no pause recorded")
	}
	for _, g := range gs {
		q, err := g.Acquire(ctx, Request{})
		if err != nil {
			t.Fatal(err)
		}
		if q.Scheduled().Before(st.PauseUntil) {
			t.Errorf("permit scheduled at %v, before the pause ends at %v", q.Scheduled(), st.PauseUntil)
		}
		if time.Now().Before(st.PauseUntil) {
			t.Errorf("permit returned before the pause ended")
		}
		_ = q.Release(ctx, Outcome{})
	}
}

// A waiter already holding a slot of the future is stopped by a pause another replica
// reports meanwhile.
func TestPauseStopsWaiters(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	cfg := Config{Namespace: uniqueNamespace(t), Lookahead: time.Second, Quotas: map[string]QuotaConfig{"q": {Limit: Limit{Rate: 5, Headroom: -1}}}}
	gs := replicas(t, url, 2, cfg)
	a, b := gs[0], gs[1]
	ctx := context.Background()
	first, err := a.Acquire(ctx, Request{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Permit)
	go func() {
		p, err := b.Acquire(ctx, Request{}) // slot ~200ms ahead
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	time.Sleep(50 * time.Millisecond)
	if err := first.Release(ctx, Outcome{Kind: Throttled, RetryAfter: 600 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	st, _ := a.Status(ctx, "q", "")
	p := <-got
	if p.Scheduled().Before(st.PauseUntil) {
		t.Errorf("waiter's permit at %v despite pause until %v", p.Scheduled(), st.PauseUntil)
	}
	_ = p.Release(ctx, Outcome{})
}

// A throttle decreases the shared rate once per epoch (gently: the first throttle at
// the configured rate is taken as near the limit); successes climb it back.
func TestAdaptiveDecreaseAndIncrease(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	cfg := Config{Namespace: uniqueNamespace(t), Quotas: map[string]QuotaConfig{"q": {Limit: Limit{
		Rate: 200, Headroom: -1, Adaptive: Adaptive{PauseBase: time.Millisecond, PauseMax: 2 * time.Millisecond},
	}}}}
	gs := replicas(t, url, 2, cfg)
	ctx := context.Background()
	// Two permits of the same epoch, from two replicas, both throttled: one decrease.
	p1, err := gs[0].Acquire(ctx, Request{})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := gs[1].Acquire(ctx, Request{})
	if err != nil {
		t.Fatal(err)
	}
	_ = p1.Release(ctx, Outcome{Kind: Throttled})
	_ = p2.Release(ctx, Outcome{Kind: Throttled})
	st, _ := gs[0].Status(ctx, "q", "")
	if want := 200 * DefaultNearBackoff; st.Rate != want || st.Limit != 200 || st.Epoch != 1 || st.Throttled != 2 {
		t.Fatalf("after two throttles of one epoch: %+v, want rate %v, limit 200, epoch 1", st, want)
	}
	// Successes climb back towards the ceiling (its Headroom is the margin).
	for i := range 150 {
		p, err := gs[i%2].Acquire(ctx, Request{})
		if err != nil {
			t.Fatal(err)
		}
		_ = p.Release(ctx, Outcome{})
	}
	st2, _ := gs[0].Status(ctx, "q", "")
	t.Logf("rate after 150 successes: %.1f", st2.Rate)
	if st2.Rate <= st.Rate || st2.Rate > 200 {
		t.Errorf("rate after successes = %v, want in (%v, 200]", st2.Rate, st.Rate)
	}
}

func TestAcquireUnknownQuotaAndClosed(t *testing.T) {
	t.Parallel()
	g, err := NewLocal(Config{Namespace: "x", Quotas: map[string]QuotaConfig{"a": {Limit: Limit{Rate: 1}}, "b": {Limit: Limit{Rate: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Acquire(context.Background(), Request{}); !errors.Is(err, ErrUnknownQuota) {
		t.Errorf("empty quota with two quotas and no %q: err = %v", DefaultQuota, err)
	}
	g.Close()
	if _, err := g.Acquire(context.Background(), Request{Quota: "a"}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: err = %v", err)
	}
}

func TestAcquireHonoursContext(t *testing.T) {
	t.Parallel()
	g, err := NewLocal(Config{Namespace: "x", Quotas: map[string]QuotaConfig{"a": {Limit: Limit{Rate: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx := context.Background()
	p, err := g.Acquire(ctx, Request{})
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Release(ctx, Outcome{})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := g.Acquire(short, Request{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
}
