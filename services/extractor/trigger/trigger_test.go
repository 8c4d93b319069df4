package trigger

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
)

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 6, 20, 5, 59, 0, 0, time.UTC)
	for _, tc := range []struct {
		expr, next string
		bad        bool
	}{
		{expr: "0 6 * * *", next: "2024-06-20T06:00:00Z"},
		{expr: "@daily", next: "2024-06-21T00:00:00Z"},
		{expr: "*/15 * * * *", next: "2024-06-20T06:00:00Z"},
		{expr: "CRON_TZ=Europe/Paris 0 8 * * *", next: "2024-06-20T06:00:00Z"},
		{expr: "CRON_TZ=Asia/Tokyo 0 8 * * *", next: "2024-06-20T23:00:00Z"},
		{expr: "@every 1h", next: "2024-06-20T06:59:00Z"},
		{expr: "0 6 * *", bad: true},
		{expr: "61 * * * *", bad: true},
	} {
		s, err := ParseSchedule(tc.expr)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: accepted", tc.expr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if got := s.Next(at).UTC().Format(time.RFC3339); got != tc.next {
			t.Errorf("%q: next after %v = %s, want %s", tc.expr, at, got, tc.next)
		}
	}
}

func TestEventTrigger(t *testing.T) {
	t.Parallel()
	e := &Events{Provider: "amazonads"}
	now := time.Date(2024, 6, 20, 12, 0, 0, 0, time.UTC)
	trig, err := e.Trigger("sluice.event.amazonads.profile.changed", []byte(`{"from":"2024-06-01","to":"2024-06-03","params":{"profile":"42"}}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if trig.Source != "event" || trig.From.Format("2006-01-02") != "2024-06-01" || trig.To.Format("2006-01-02") != "2024-06-03" ||
		trig.Params["profile"] != "42" || trig.Params["event"] != "profile.changed" || trig.RunID == "" {
		t.Errorf("trigger = %+v", trig)
	}
	again, _ := e.Trigger("sluice.event.amazonads.profile.changed", []byte(`{"from":"2024-06-01","to":"2024-06-03","params":{"profile":"42"}}`), now)
	if again.RunID != trig.RunID {
		t.Errorf("the same event got run ids %s and %s; want one (dedupe)", trig.RunID, again.RunID)
	}
	empty, err := e.Trigger("sluice.event.amazonads.window.closed", nil, now)
	if err != nil || empty.From.Format("2006-01-02") != "2024-06-19" || empty.To != empty.From {
		t.Errorf("empty event: %+v, %v; want yesterday", empty, err)
	}
	for _, body := range []string{`{`, `{"from":"June"}`, `{"from":"2024-06-03","to":"2024-06-01"}`} {
		if _, err := e.Trigger("sluice.event.amazonads.x", []byte(body), now); err == nil {
			t.Errorf("%s: accepted", body)
		}
	}
}

// TestScheduleSlotPlannedOnce: three replicas firing the same slot plan one run.
func TestScheduleSlotPlannedOnce(t *testing.T) {
	_, js := servicetest.JetStream(t)
	ctx := context.Background()
	kv, _ := js.KeyValue(ctx, bus.BucketCheckpoints)
	claims, _ := checkpoint.New(kv, "demo")
	slot := time.Date(2024, 6, 20, 6, 0, 0, 0, time.UTC)
	for range 3 {
		s := &Schedule{Provider: "demo", Expr: "0 6 * * *", JS: js, Claims: claims}
		if err := s.Fire(ctx, slot); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := js.Stream(ctx, bus.StreamTasks)
	info, _ := st.Info(ctx)
	if info.State.Msgs != 1 {
		t.Errorf("TASKS holds %d plan messages after three replicas fired one slot, want 1", info.State.Msgs)
	}
	trig := (&Schedule{}).Trigger(slot)
	if trig.RunID != "sched-20240620T0600" || trig.From.Format("2006-01-02") != "2024-06-19" {
		t.Errorf("trigger = %+v", trig)
	}
}
