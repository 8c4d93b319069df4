package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const meterName = "github.com/sluice-dev/sluice/internal/ratelimit"

// metrics are the governor's instruments. Attributes carry the quota name, never a key
// or lease id (bounded cardinality).
type metrics struct {
	permits   metric.Int64Counter
	throttles metric.Int64Counter
	wait      metric.Float64Histogram
	writes    metric.Int64Counter
	lateSlots metric.Int64Counter
	reg       metric.Registration
}

func newMetrics(g *Governor, mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(meterName)
	var (
		out  metrics
		errs []error
		err  error
	)
	add := func(e error) { errs = append(errs, e) }
	out.permits, err = m.Int64Counter("sluice.ratelimit.permits", metric.WithDescription("Permits issued by this replica."), metric.WithUnit("{permit}"))
	add(err)
	out.throttles, err = m.Int64Counter("sluice.ratelimit.throttled", metric.WithDescription("Throttles (HTTP 429) reported."), metric.WithUnit("{throttle}"))
	add(err)
	out.wait, err = m.Float64Histogram("sluice.ratelimit.wait.duration", metric.WithDescription("Time Acquire waited for a permit."), metric.WithUnit("s"))
	add(err)
	out.writes, err = m.Int64Counter("sluice.ratelimit.kv.writes", metric.WithDescription("Compare-and-set writes of shared limit state, by result."), metric.WithUnit("{write}"))
	add(err)
	out.lateSlots, err = m.Int64Counter("sluice.ratelimit.late", metric.WithDescription("Slots void because their waiter woke too late to use them on time."), metric.WithUnit("{slot}"))
	add(err)
	rate, err := m.Float64ObservableGauge("sluice.ratelimit.rate", metric.WithDescription("Allowed rate of the quota, shared by all replicas."), metric.WithUnit("{request}/s"))
	add(err)
	util, err := m.Float64ObservableGauge("sluice.ratelimit.utilization", metric.WithDescription("Share of the allowed rate reserved by all replicas since the last observation."), metric.WithUnit("1"))
	add(err)
	leases, err := m.Int64ObservableGauge("sluice.ratelimit.leases", metric.WithDescription("Concurrency slots held by this replica."), metric.WithUnit("{lease}"))
	add(err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("create ratelimit instruments: %w", err)
	}
	out.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := time.Now()
		for _, b := range g.quotaBuckets() {
			b.mu.Lock()
			st, known := b.st, b.known
			u, hasU := 0.0, false
			if known && !b.obsAt.IsZero() && st.Rate > 0 {
				if dt := now.Sub(b.obsAt).Seconds(); dt > 0 {
					u, hasU = float64(st.Issued-b.obsIssued)/dt/st.Rate, true
				}
			}
			b.obsIssued, b.obsAt = st.Issued, now
			b.mu.Unlock()
			if !known {
				continue
			}
			attrs := metric.WithAttributes(attribute.String("quota", b.quota))
			o.ObserveFloat64(rate, st.Rate, attrs)
			if hasU {
				o.ObserveFloat64(util, u, attrs)
			}
		}
		o.ObserveInt64(leases, int64(g.leasesHeld()))
		return nil
	}, rate, util, leases)
	if err != nil {
		return nil, fmt.Errorf("register ratelimit callback: %w", err)
	}
	return &out, nil
}

func (m *metrics) issued(ctx context.Context, quota string, waited time.Duration) {
	attrs := metric.WithAttributes(attribute.String("quota", quota))
	m.permits.Add(ctx, 1, attrs)
	m.wait.Record(ctx, waited.Seconds(), attrs)
}

func (m *metrics) throttled(ctx context.Context, b *bucket) {
	scope := "quota"
	if b.key != quotaKey(b.g.cfg.Namespace, b.quota) {
		scope = "key"
	}
	m.throttles.Add(ctx, 1, metric.WithAttributes(attribute.String("quota", b.quota), attribute.String("scope", scope)))
}

func (m *metrics) write(ctx context.Context, err error) {
	result := "ok"
	switch {
	case errors.Is(err, errConflict):
		result = "conflict"
	case err != nil:
		result = "error"
	}
	m.writes.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result)))
}

func (m *metrics) late(ctx context.Context, b *bucket) {
	m.lateSlots.Add(ctx, 1, metric.WithAttributes(attribute.String("quota", b.quota)))
}
