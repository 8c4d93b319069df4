// Package trigger starts runs of a provider from a cron schedule or from events, by
// publishing the same plan task that `sluice run` publishes. Every replica of a provider
// runs the triggers; a run is planned once however many replicas there are, because the
// plan message id is derived from the schedule slot (or the event) and JetStream drops
// duplicate ids, and a schedule slot is also claimed in the checkpoints bucket.
package trigger

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/robfig/cron/v3"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
)

// ParseSchedule parses a standard five-field cron expression (minute hour day-of-month
// month day-of-week), a descriptor such as @daily or @every 1h, optionally prefixed
// with CRON_TZ=<zone>; without a zone the schedule is in UTC.
func ParseSchedule(expr string) (cron.Schedule, error) {
	full := expr
	if !strings.HasPrefix(expr, "CRON_TZ=") && !strings.HasPrefix(expr, "TZ=") {
		full = "CRON_TZ=UTC " + expr // never the machine's local zone
	}
	s, err := cron.ParseStandard(full)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", expr, err)
	}
	return s, nil
}

// Schedule plans a run of a provider at every slot of a cron schedule. The run covers
// the day before the slot (UTC); providers extend it by their look-back.
type Schedule struct {
	Provider string
	Expr     string
	// Params are passed to Plan with every run.
	Params map[string]string
	JS     jetstream.JetStream
	// Claims records planned slots (the sluice-checkpoints bucket); may be nil.
	Claims *checkpoint.Store
	Log    *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// RunID is the run id of the slot at t: the same on every replica.
func RunID(t time.Time) string { return "sched-" + t.UTC().Format("20060102T1504") }

// Trigger is the trigger of the slot at t.
func (s *Schedule) Trigger(t time.Time) provider.Trigger {
	y, m, d := t.UTC().AddDate(0, 0, -1).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return provider.Trigger{RunID: RunID(t), Source: "schedule", From: day, To: day, Params: s.Params}
}

// Run plans a run at every slot until ctx ends. Slots missed while no replica ran are
// not caught up: run them with `sluice run`.
func (s *Schedule) Run(ctx context.Context) error {
	sched, err := ParseSchedule(s.Expr)
	if err != nil {
		return err
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "schedule", "schedule", s.Expr)
	next := sched.Next(now().UTC())
	log.Info("schedule armed", "next", next)
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if err := s.Fire(ctx, next); err != nil {
			log.Error("scheduled run not planned", "slot", next, "err", err)
		}
		next = sched.Next(next)
	}
}

// Fire publishes the plan task of the slot at t unless it was planned already.
func (s *Schedule) Fire(ctx context.Context, t time.Time) error {
	trig := s.Trigger(t)
	key := ""
	if s.Claims != nil {
		key = s.Claims.Key("schedule", trig.RunID)
		c, err := checkpoint.Load[provider.Trigger](ctx, s.Claims, key)
		if err != nil {
			return err
		}
		if c.Found {
			return nil // another replica planned this slot
		}
	}
	msg, err := provider.PlanMessage(s.Provider, trig)
	if err != nil {
		return err
	}
	ack, err := bus.Publish(ctx, s.JS, msg)
	if err != nil {
		return fmt.Errorf("publish plan of %s: %w", trig.RunID, err)
	}
	if s.Claims != nil {
		if _, err := s.Claims.Claim(ctx, key, trig); err != nil {
			return err
		}
	}
	if s.Log != nil && !ack.Duplicate {
		s.Log.Info("scheduled run planned", "run_id", trig.RunID, "from", trig.From.Format("2006-01-02"))
	}
	return nil
}
