// Package trigger starts runs of a provider from a cron schedule or from events, by
// publishing the same plan task that `sluice run` publishes.
//
// Events travel through the EVENTS stream (see Events), so one sent while no extractor
// runs is planned when one starts. Schedules run in every replica of the provider; the
// schedule's state in the sluice-checkpoints bucket (the last slot planned, and a run
// claimed but maybe not yet published) makes each slot plan exactly one run however many
// replicas there are, and makes a replica that starts after slots were missed plan them.
package trigger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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

// CatchUp says how slots missed while no replica ran are planned when one starts.
type CatchUp string

const (
	// CatchUpCoalesce plans one run covering every missed slot (the default): after a
	// week down, a daily schedule plans one run over the seven days, not seven runs.
	CatchUpCoalesce CatchUp = "coalesce"
	// CatchUpEach plans one run per missed slot, oldest first, for providers whose runs
	// must match slots one to one.
	CatchUpEach CatchUp = "each"
)

// ParseCatchUp validates a --schedule-catch-up value ("" is CatchUpCoalesce).
func ParseCatchUp(s string) (CatchUp, error) {
	switch CatchUp(s) {
	case "", CatchUpCoalesce:
		return CatchUpCoalesce, nil
	case CatchUpEach:
		return CatchUpEach, nil
	}
	return "", fmt.Errorf("%q: want %s or %s", s, CatchUpCoalesce, CatchUpEach)
}

// Schedule plans a run of a provider at every slot of a cron schedule. The run of the
// slot at t covers the day before t (UTC); providers extend it by their look-back.
type Schedule struct {
	Provider string
	Expr     string
	// Params are passed to Plan with every run.
	Params  map[string]string
	CatchUp CatchUp
	JS      jetstream.JetStream
	// State keeps the schedule's progress (the sluice-checkpoints bucket). Required.
	State *checkpoint.Store
	Log   *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// scheduleState is the schedule's progress, one key per schedule expression.
type scheduleState struct {
	Expr string `json:"expr"`
	// Last is the latest slot whose run is planned; before the first, the time the
	// schedule was first armed (slots before it are not the schedule's to run).
	Last time.Time `json:"last"`
	// Pending is a run claimed by a replica and perhaps not published yet: whoever reads
	// it publishes it (its message id dedupes) and then advances Last.
	Pending *pendingRun `json:"pending,omitempty"`
}

type pendingRun struct {
	Trigger provider.Trigger `json:"trigger"`
	// Through is the last slot the run covers.
	Through time.Time `json:"through"`
	Slots   int       `json:"slots"`
}

// RunID is the run id of the slot at t: the same on every replica. Seconds appear only
// in slots that have them (@every 30s), so two slots never share an id.
func RunID(t time.Time) string { return "sched-" + slotStamp(t) }

func slotStamp(t time.Time) string {
	if t.Second() != 0 {
		return t.UTC().Format("20060102T150405")
	}
	return t.UTC().Format("20060102T1504")
}

// Trigger is the trigger of the slot at t.
func (s *Schedule) Trigger(t time.Time) provider.Trigger { return s.triggerOf(t, t, 1) }

// triggerOf is the trigger of one run covering the slots first..last (count of them).
func (s *Schedule) triggerOf(first, last time.Time, count int) provider.Trigger {
	runID := RunID(last)
	if count > 1 {
		runID = RunID(first) + "-" + slotStamp(last)
	}
	return provider.Trigger{RunID: runID, Source: "schedule", From: dayBefore(first), To: dayBefore(last), Params: s.Params}
}

func dayBefore(t time.Time) time.Time {
	y, m, d := t.UTC().AddDate(0, 0, -1).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// key is the schedule's state key: a new expression is a new schedule, with no past.
func (s *Schedule) key() string {
	sum := sha256.Sum256([]byte(s.Expr))
	return s.State.Key("schedule", hex.EncodeToString(sum[:8]))
}

func (s *Schedule) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Schedule) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log.With("component", "schedule", "schedule", s.Expr)
}

// retryAfter is how long Run waits after a failed Tick (the bus unreachable).
const retryAfter = 10 * time.Second

// Run plans the slots missed while no replica ran, then a run at every slot, until ctx
// ends.
func (s *Schedule) Run(ctx context.Context) error {
	if _, err := ParseSchedule(s.Expr); err != nil {
		return err
	}
	log := s.log()
	for {
		next, err := s.Tick(ctx)
		wait := next.Sub(s.now())
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Error("schedule state or plan failed; retrying", "err", err, "retry_in", retryAfter)
			wait = retryAfter
		} else {
			log.Debug("schedule armed", "next", next)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Tick plans every run that is due now: a run claimed by a replica that may have died
// before publishing it, the slots passed since the last one planned (coalesced or each,
// as CatchUp says), and returns the time of the next slot. Replicas may tick at once:
// a run is claimed by compare-and-set on the schedule's state, and its plan message id
// is the same whoever publishes it, so each slot is planned once.
func (s *Schedule) Tick(ctx context.Context) (time.Time, error) {
	sched, err := ParseSchedule(s.Expr)
	if err != nil {
		return time.Time{}, err
	}
	if s.State == nil {
		return time.Time{}, errors.New("schedule: no state store")
	}
	key := s.key()
	for {
		now := s.now()
		c, err := checkpoint.Load[scheduleState](ctx, s.State, key)
		if err != nil {
			return time.Time{}, err
		}
		st := c.Value
		switch {
		case !c.Found:
			c.Value = scheduleState{Expr: s.Expr, Last: now}
		case st.Pending != nil:
			p := st.Pending
			if err := s.publish(ctx, p); err != nil {
				return time.Time{}, err
			}
			c.Value.Last, c.Value.Pending = p.Through, nil
		default:
			first, last, count := due(sched, st.Last, now)
			if count == 0 {
				return sched.Next(later(st.Last, now)), nil
			}
			if s.CatchUp == CatchUpEach {
				last, count = first, 1
			}
			c.Value.Pending = &pendingRun{Trigger: s.triggerOf(first, last, count), Through: last, Slots: count}
		}
		if _, err := checkpoint.Save(ctx, s.State, c); err != nil && !errors.Is(err, checkpoint.ErrConflict) {
			return time.Time{}, err
		}
		// Saved or not (another replica got there first), read the state again.
	}
}

func (s *Schedule) publish(ctx context.Context, p *pendingRun) error {
	msg, err := provider.PlanMessage(s.Provider, p.Trigger)
	if err != nil {
		return err
	}
	ack, err := bus.Publish(ctx, s.JS, msg)
	if err != nil {
		return fmt.Errorf("publish plan of %s: %w", p.Trigger.RunID, err)
	}
	if !ack.Duplicate {
		log := s.log()
		if p.Slots > 1 {
			log.Info("missed slots planned as one catch-up run", "run_id", p.Trigger.RunID, "slots", p.Slots,
				"from", p.Trigger.From.Format(time.DateOnly), "to", p.Trigger.To.Format(time.DateOnly))
		} else {
			log.Info("scheduled run planned", "run_id", p.Trigger.RunID, "from", p.Trigger.From.Format(time.DateOnly))
		}
	}
	return nil
}

// maxDue bounds the slots counted in one pass, so a schedule of every minute that was
// down for years costs a bounded loop; the next pass of Tick plans the rest.
const maxDue = 1 << 20

// due returns the first and last slot after last and not after now, and how many.
func due(sched cron.Schedule, last, now time.Time) (first, through time.Time, count int) {
	for t := sched.Next(last); !t.IsZero() && !t.After(now) && count < maxDue; t = sched.Next(t) {
		if count == 0 {
			first = t
		}
		through = t
		count++
	}
	return first, through, count
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
