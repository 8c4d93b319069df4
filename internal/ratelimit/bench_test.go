package ratelimit

import (
	"context"
	"math"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// simServer is a GCRA token bucket like the provider simulators': rate per second with
// a burst, answering 429 with Retry-After in whole seconds (at least 1).
type simServer struct {
	mu       sync.Mutex
	interval time.Duration
	burst    time.Duration
	tat      time.Time
}

func (s *simServer) call(now time.Time) (ok bool, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tat := s.tat
	if tat.Before(now) {
		tat = now
	}
	if over := tat.Add(s.interval).Sub(now) - s.burst; over > 0 {
		secs := max(1, int64((over+time.Second-1)/time.Second))
		return false, time.Duration(secs) * time.Second
	}
	s.tat = tat.Add(s.interval)
	return true, 0
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// BenchmarkSharedQuota runs 3 replicas × 8 workers against a simulated server whose
// quota is Q/s (burst 2Q) until N calls succeed, with the governor configured at the
// real quota ("known") or at 4× it ("discover"). It reports the wall time relative to
// the ideal N/Q and the share of 429s. Tune with SLUICE_BENCH_Q and SLUICE_BENCH_N.
//
//	go test ./internal/ratelimit -run '^$' -bench SharedQuota -benchtime 1x
func BenchmarkSharedQuota(b *testing.B) {
	q := float64(envInt("SLUICE_BENCH_Q", 50))
	n := envInt("SLUICE_BENCH_N", 1000)
	for _, tc := range []struct {
		name string
		rate float64
	}{{"known", q}, {"discover4x", 4 * q}} {
		b.Run(tc.name, func(b *testing.B) {
			url := startServer(b)
			for range b.N {
				cfg := Config{Namespace: uniqueNamespace(b), Quotas: map[string]QuotaConfig{"api": {Limit: Limit{Rate: tc.rate}}}}
				gs := replicas(b, url, 3, cfg)
				srv := &simServer{interval: time.Duration(float64(time.Second) / q), burst: time.Duration(2 * float64(time.Second))}
				var okN, throttled, doneAt atomic.Int64
				ctx := context.Background()
				began := time.Now()
				var wg sync.WaitGroup
				for _, g := range gs {
					for range 8 {
						wg.Go(func() {
							for okN.Load() < int64(n) {
								p, err := g.Acquire(ctx, Request{Quota: "api"})
								if err != nil {
									b.Error(err)
									return
								}
								time.Sleep(3 * time.Millisecond) // network
								ok, ra := srv.call(time.Now())
								if ok {
									if okN.Add(1) == int64(n) {
										doneAt.Store(time.Now().UnixNano())
									}
									_ = p.Release(ctx, Outcome{Kind: Success})
								} else {
									throttled.Add(1)
									_ = p.Release(ctx, Outcome{Kind: Throttled, RetryAfter: ra})
								}
							}
						})
					}
				}
				wg.Wait()
				elapsed := time.Unix(0, doneAt.Load()).Sub(began)
				ideal := time.Duration(float64(n) / q * float64(time.Second))
				st, _ := gs[0].Status(ctx, "api", "")
				b.ReportMetric(elapsed.Seconds()/ideal.Seconds(), "x-ideal")
				pct := 100 * float64(throttled.Load()) / float64(okN.Load()+throttled.Load())
				b.ReportMetric(math.Round(pct*100)/100, "%429")
				b.Logf("%s: %d ok, %d throttled in %v (ideal %v); final rate %.1f limit %.1f epochs %d",
					tc.name, okN.Load(), throttled.Load(), elapsed.Round(time.Millisecond), ideal, st.Rate, st.Limit, st.Epoch)
			}
		})
	}
}

// BenchmarkAcquire measures the cost of acquisition when the quota is not the limit:
// 3 replicas × 16 callers on an embedded NATS server, reporting permits per second and
// KV writes per permit (the batching at work).
//
//	go test ./internal/ratelimit -run '^$' -bench Acquire -benchtime 3000x
func BenchmarkAcquire(b *testing.B) {
	for _, rate := range []float64{500, 5000} {
		b.Run(strconv.Itoa(int(rate))+"per_s", func(b *testing.B) {
			url := startServer(b)
			reader := sdkmetric.NewManualReader()
			cfg := Config{
				Namespace: uniqueNamespace(b), Quotas: map[string]QuotaConfig{"api": {Limit: Limit{Rate: rate, Headroom: -1}}},
				MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
			}
			gs := replicas(b, url, 3, cfg)
			ctx := context.Background()
			var left atomic.Int64
			left.Store(int64(b.N))
			b.ResetTimer()
			began := time.Now()
			var wg sync.WaitGroup
			for _, g := range gs {
				for range 16 {
					wg.Go(func() {
						for left.Add(-1) >= 0 {
							p, err := g.Acquire(ctx, Request{})
							if err != nil {
								b.Error(err)
								return
							}
							_ = p.Release(ctx, Outcome{})
						}
					})
				}
			}
			wg.Wait()
			elapsed := time.Since(began)
			b.StopTimer()
			var rm metricdata.ResourceMetrics
			_ = reader.Collect(ctx, &rm)
			var writes int64
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "sluice.ratelimit.kv.writes" {
						for _, p := range d.DataPoints {
							writes += p.Value
						}
					}
				}
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "permits/s")
			b.ReportMetric(float64(writes)/float64(b.N), "writes/permit")
		})
	}
}
