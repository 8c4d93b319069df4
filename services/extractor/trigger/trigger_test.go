package trigger

import (
	"testing"
	"time"
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
	s3note := `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"in/a.csv","size":3,"eTag":"abc"}}}]}`
	note, err := e.Trigger("sluice.event.amazonads.object.created", []byte(s3note), now)
	if err != nil || string(note.Body) != s3note || note.From.Format("2006-01-02") != "2024-06-19" {
		t.Errorf("S3 notification: %+v, %v; want its body passed on as sent", note, err)
	}
	for _, body := range []string{`{`, `{"from":"June"}`, `{"from":"2024-06-03","to":"2024-06-01"}`} {
		if _, err := e.Trigger("sluice.event.amazonads.x", []byte(body), now); err == nil {
			t.Errorf("%s: accepted", body)
		}
	}
}

func TestDueSlots(t *testing.T) {
	t.Parallel()
	daily, _ := ParseSchedule("0 6 * * *")
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	for _, tc := range []struct {
		name, last, now string
		first, through  string
		count           int
	}{
		{"before the slot", "2024-06-20T05:00:00Z", "2024-06-20T05:59:59Z", "", "", 0},
		{"at the slot", "2024-06-20T05:00:00Z", "2024-06-20T06:00:00Z", "2024-06-20T06:00:00Z", "2024-06-20T06:00:00Z", 1},
		{"slot already planned", "2024-06-20T06:00:00Z", "2024-06-20T23:00:00Z", "", "", 0},
		{"three days down", "2024-06-20T05:00:00Z", "2024-06-23T07:00:00Z", "2024-06-20T06:00:00Z", "2024-06-23T06:00:00Z", 4},
	} {
		first, through, count := due(daily, at(tc.last), at(tc.now))
		if count != tc.count || (count > 0 && (!first.Equal(at(tc.first)) || !through.Equal(at(tc.through)))) {
			t.Errorf("%s: due = %v..%v (%d), want %s..%s (%d)", tc.name, first, through, count, tc.first, tc.through, tc.count)
		}
	}
}

func TestParseCatchUp(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]CatchUp{"": CatchUpCoalesce, "coalesce": CatchUpCoalesce, "each": CatchUpEach, "all": ""} {
		got, err := ParseCatchUp(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ParseCatchUp(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestCatchUpTrigger(t *testing.T) {
	t.Parallel()
	s := &Schedule{Params: map[string]string{"k": "v"}}
	first := time.Date(2024, 6, 20, 6, 0, 0, 0, time.UTC)
	one := s.Trigger(first)
	if one.RunID != "sched-20240620T0600" || one.From.Format(time.DateOnly) != "2024-06-19" || one.To != one.From || one.Params["k"] != "v" {
		t.Errorf("slot trigger = %+v", one)
	}
	if id := RunID(first.Add(30 * time.Second)); id != "sched-20240620T060030" {
		t.Errorf("slot with seconds: run id %s, want sched-20240620T060030", id)
	}
	many := s.triggerOf(first, first.AddDate(0, 0, 3), 4)
	if many.RunID != "sched-20240620T0600-20240623T0600" || many.From.Format(time.DateOnly) != "2024-06-19" || many.To.Format(time.DateOnly) != "2024-06-22" {
		t.Errorf("catch-up trigger = %+v", many)
	}
}
