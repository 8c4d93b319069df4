package main

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-dev/sluice/internal/service"
	"github.com/sluice-dev/sluice/internal/staging"
)

// retention deletes staged documents once they are older than a configured age. Staged
// documents are what replays read, so the age bounds how far back a replay can go.
type retention struct {
	store    *staging.Store
	keep     time.Duration
	interval time.Duration
	log      *slog.Logger
	expired  metric.Int64Counter
}

func newRetention(rt *service.Runtime, store *staging.Store, keep, interval time.Duration) (*retention, error) {
	expired, err := rt.Telemetry.Meter.Int64Counter("sluice.stage.expired", metric.WithDescription("staged documents deleted by retention"))
	if err != nil {
		return nil, err
	}
	return &retention{store: store, keep: keep, interval: interval, log: rt.Log.With("component", "retention"), expired: expired}, nil
}

// run deletes expired documents at start and then every interval until ctx ends. A failed
// pass is logged and tried again at the next tick: retention is housekeeping and must not
// stop staging.
func (r *retention) run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		r.pass(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (r *retention) pass(ctx context.Context) {
	providers, err := r.store.Providers(ctx)
	if err != nil {
		r.log.WarnContext(ctx, "retention pass failed", "err", err)
		return
	}
	cutoff := time.Now().Add(-r.keep)
	for _, p := range providers {
		n, err := r.store.DeleteStagedBefore(ctx, p, cutoff)
		if err != nil {
			r.log.WarnContext(ctx, "retention pass failed", "provider", p, "err", err)
			continue
		}
		r.expired.Add(ctx, n, metric.WithAttributes(attribute.String("provider", p)))
		if n > 0 {
			r.log.InfoContext(ctx, "expired staged documents", "provider", p, "deleted", n, "staged_before", cutoff.UTC().Format(time.RFC3339))
		}
	}
}
