package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/servicetest"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
)

// replicas connects n extractor replicas to the private server at url, each with its own
// connection, as separate processes would be.
func replicas(t *testing.T, url string, n int) []jetstream.JetStream {
	t.Helper()
	var out []jetstream.JetStream
	for range n {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, js)
	}
	return out
}

func schedule(t *testing.T, js jetstream.JetStream, expr string, catchUp CatchUp, now time.Time) *Schedule {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), bus.BucketCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	state, err := checkpoint.New(kv, "demo")
	if err != nil {
		t.Fatal(err)
	}
	return &Schedule{Provider: "demo", Expr: expr, CatchUp: catchUp, JS: js, State: state,
		Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Now: func() time.Time { return now }}
}

// tickAll ticks every replica's schedule at once, at now.
func tickAll(t *testing.T, jss []jetstream.JetStream, expr string, catchUp CatchUp, now time.Time) {
	t.Helper()
	var wg sync.WaitGroup
	for _, js := range jss {
		s := schedule(t, js, expr, catchUp, now)
		wg.Go(func() {
			if _, err := s.Tick(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// plans returns the triggers of the plan tasks in TASKS, in order.
func plans(t *testing.T, js jetstream.JetStream) []provider.Trigger {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, bus.StreamTasks)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []provider.Trigger
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var task sluicev1.Task
		if err := proto.Unmarshal(m.Data, &task); err != nil {
			t.Fatal(err)
		}
		var trig provider.Trigger
		if err := json.Unmarshal(task.GetParams(), &trig); err != nil {
			t.Fatal(err)
		}
		trig.RunID = task.GetRunId()
		out = append(out, trig)
	}
	return out
}

func runIDs(ts []provider.Trigger) []string {
	var ids []string
	for _, t := range ts {
		ids = append(ids, fmt.Sprintf("%s %s..%s", t.RunID, t.From.Format(time.DateOnly), t.To.Format(time.DateOnly)))
	}
	sort.Strings(ids)
	return ids
}

// Three replicas running at a slot plan one run.
func TestIntegrationScheduleSlotPlannedOnce(t *testing.T) {
	url, js := servicetest.JetStream(t)
	jss := replicas(t, url, 3)
	armed := time.Date(2024, 6, 20, 5, 0, 0, 0, time.UTC)
	tickAll(t, jss, "0 6 * * *", CatchUpCoalesce, armed)
	if got := plans(t, js); len(got) != 0 {
		t.Fatalf("arming planned %v; want nothing before the first slot", runIDs(got))
	}
	tickAll(t, jss, "0 6 * * *", CatchUpCoalesce, armed.Add(time.Hour))
	tickAll(t, jss, "0 6 * * *", CatchUpCoalesce, armed.Add(time.Hour+time.Minute)) // late wake-ups
	got := plans(t, js)
	if ids := runIDs(got); len(ids) != 1 || ids[0] != "sched-20240620T0600 2024-06-19..2024-06-19" {
		t.Errorf("plans after three replicas hit one slot: %v, want sched-20240620T0600 for 2024-06-19 only", ids)
	}
}

// The slots missed while no extractor ran are planned when three replicas start at once:
// one catch-up run over all of them (coalesce), or one run per slot (each), and no
// restart plans them again.
func TestIntegrationScheduleMissedSlotsRunOnceOnRestart(t *testing.T) {
	for _, tc := range []struct {
		catchUp CatchUp
		want    []string
	}{
		{CatchUpCoalesce, []string{"sched-20240620T0600-20240623T0600 2024-06-19..2024-06-22"}},
		{CatchUpEach, []string{
			"sched-20240620T0600 2024-06-19..2024-06-19", "sched-20240621T0600 2024-06-20..2024-06-20",
			"sched-20240622T0600 2024-06-21..2024-06-21", "sched-20240623T0600 2024-06-22..2024-06-22"}},
	} {
		t.Run(string(tc.catchUp), func(t *testing.T) {
			url, js := servicetest.JetStream(t)
			jss := replicas(t, url, 3)
			armed := time.Date(2024, 6, 20, 5, 0, 0, 0, time.UTC)
			tickAll(t, jss[:1], "0 6 * * *", tc.catchUp, armed) // ran once, then down for three days
			back := time.Date(2024, 6, 23, 7, 30, 0, 0, time.UTC)
			tickAll(t, jss, "0 6 * * *", tc.catchUp, back)
			tickAll(t, jss, "0 6 * * *", tc.catchUp, back.Add(time.Minute)) // restarted again
			if got := runIDs(plans(t, js)); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("plans after the restart: %v\nwant %v", got, tc.want)
			}
			// Back to normal: the next slot is one run.
			tickAll(t, jss, "0 6 * * *", tc.catchUp, time.Date(2024, 6, 24, 6, 0, 0, 0, time.UTC))
			if got := plans(t, js); len(got) != len(tc.want)+1 || got[len(got)-1].RunID != "sched-20240624T0600" {
				t.Errorf("after the next slot: %v", runIDs(got))
			}
		})
	}
}

// A replica that claimed a slot's run and died before publishing it does not lose the
// slot: the next replica to tick publishes the claimed run.
func TestIntegrationScheduleClaimedRunSurvivesCrash(t *testing.T) {
	_, js := servicetest.JetStream(t)
	ctx := context.Background()
	slot := time.Date(2024, 6, 20, 6, 0, 0, 0, time.UTC)
	s := schedule(t, js, "0 6 * * *", CatchUpCoalesce, slot.Add(time.Minute))
	c := checkpoint.Cursor[scheduleState]{Key: s.key(), Value: scheduleState{Expr: s.Expr, Last: slot.Add(-time.Hour),
		Pending: &pendingRun{Trigger: s.Trigger(slot), Through: slot, Slots: 1}}}
	if _, err := checkpoint.Save(ctx, s.State, c); err != nil {
		t.Fatal(err)
	}
	next, err := s.Tick(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ids := runIDs(plans(t, js)); len(ids) != 1 || ids[0] != "sched-20240620T0600 2024-06-19..2024-06-19" {
		t.Errorf("plans: %v, want the claimed run", ids)
	}
	if !next.Equal(slot.AddDate(0, 0, 1)) {
		t.Errorf("next slot %v, want %v", next, slot.AddDate(0, 0, 1))
	}
}

// An event sent while no extractor runs waits in EVENTS and is planned when one starts,
// also after the provider's consumer exists; a body that is not an event is dead-lettered.
func TestIntegrationEventWhileNoExtractorRuns(t *testing.T) {
	_, js := servicetest.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := func() (stop func()) {
		e := &Events{Provider: "demo", JS: js, Tracer: nooptrace.NewTracerProvider().Tracer(""),
			Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Config: EventsConfig{MaxDeliver: 3, DrainTimeout: time.Second}}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.Run(rctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	waitPlans := func(n int) []provider.Trigger {
		for {
			if got := plans(t, js); len(got) >= n {
				return got
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%d plans, want %d", len(plans(t, js)), n)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	if _, err := PublishEvent(ctx, js, "demo", "profile.changed", Event{From: "2024-06-01", Params: map[string]string{"profile": "42"}}, ""); err != nil {
		t.Fatal(err)
	}
	stop := start()
	got := waitPlans(1)
	stop()
	if tr := got[0]; tr.Source != "event" || tr.Params["profile"] != "42" || tr.Params["event"] != "profile.changed" || tr.From.Format(time.DateOnly) != "2024-06-01" {
		t.Errorf("plan of the event sent before any extractor ran: %+v", tr)
	}

	// The consumer exists now, but no extractor runs: a second event waits too.
	if _, err := PublishEvent(ctx, js, "demo", "window.closed", Event{RunID: "ev-2"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, bus.EventSubject("demo", "garbage"), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	stop = start()
	got = waitPlans(2)
	if got[1].RunID != "ev-2" {
		t.Errorf("second plan %+v, want run ev-2", got[1])
	}
	dlq, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := dlq.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("DLQ holds %d messages, want the bad event", info.State.Msgs)
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	if n := len(plans(t, js)); n != 2 {
		t.Errorf("%d plans, want 2", n)
	}
	events, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := events.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("EVENTS holds %d messages after they were planned, want 0", info.State.Msgs)
	}
}

// Run, on the real clock, plans successive slots of a fast schedule, each under its own
// run id.
func TestIntegrationScheduleRunPlansSlots(t *testing.T) {
	_, js := servicetest.JetStream(t)
	s := schedule(t, js, "@every 1s", CatchUpCoalesce, time.Time{})
	s.Now = nil // the real clock
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	for len(plans(t, js)) < 2 {
		select {
		case <-ctx.Done():
			t.Fatalf("plans: %v, want two slots", runIDs(plans(t, js)))
		case <-time.After(100 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := plans(t, js)
	seen := map[string]bool{}
	for _, p := range got {
		if seen[p.RunID] || p.Source != "schedule" {
			t.Errorf("plans %v: run %s twice or not from the schedule", runIDs(got), p.RunID)
		}
		seen[p.RunID] = true
	}
}
