package ratelimit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

// Against the real local NATS server: three replicas share a quota and a host cap in
// the sluice-limits bucket; a throttle's pause reaches every replica.
func TestIntegrationReplicasShareLimits(t *testing.T) {
	env := testinfra.Require(t, testinfra.NATS)
	t.Parallel()
	const rate = 40.0
	cfg := Config{
		Namespace: uniqueNamespace(t), HostConcurrency: 2, LeaseTTL: time.Second,
		Quotas: map[string]QuotaConfig{"api": {Limit: Limit{Rate: rate}}},
	}
	gs := replicas(t, env.NATSURL, 3, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var (
		mu        sync.Mutex
		scheduled []time.Time
		inFlight  int
		peak      int
		wg        sync.WaitGroup
	)
	for _, g := range gs {
		for range 4 {
			wg.Go(func() {
				for {
					p, err := g.Acquire(ctx, Request{Quota: "api", Host: "partner.example.com"})
					if err != nil {
						if !errors.Is(err, context.DeadlineExceeded) {
							t.Errorf("acquire: %v", err)
						}
						return
					}
					mu.Lock()
					scheduled = append(scheduled, p.Scheduled())
					inFlight++
					peak = max(peak, inFlight)
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
					mu.Lock()
					inFlight--
					mu.Unlock()
					if err := p.Release(context.Background(), Outcome{}); err != nil {
						t.Errorf("release: %v", err)
					}
				}
			})
		}
	}
	wg.Wait()
	slices.SortFunc(scheduled, func(a, b time.Time) int { return a.Compare(b) })
	got := maxInWindow(scheduled, time.Second)
	t.Logf("%d permits, max %d in 1s, peak concurrency %d", len(scheduled), got, peak)
	if got > int(rate) {
		t.Errorf("%d permits in a 1s window, quota %v", got, rate)
	}
	if peak > 2 {
		t.Errorf("peak concurrency %d > cap 2", peak)
	}

	bg := context.Background()
	p, err := gs[0].Acquire(bg, Request{Quota: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Release(bg, Outcome{Kind: Throttled, RetryAfter: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	st, err := gs[2].Status(bg, "api", "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Throttled != 1 || st.Rate >= rate {
		t.Errorf("status after throttle: %+v", st)
	}
	q, err := gs[2].Acquire(bg, Request{Quota: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if q.Scheduled().Before(st.PauseUntil) {
		t.Errorf("replica 3 got a permit at %v inside the pause until %v", q.Scheduled(), st.PauseUntil)
	}
	_ = q.Release(bg, Outcome{})
}
