package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func ptr(f float64) *float64 { return &f }

func TestRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		prev, cur uint64
		dt        time.Duration
		hasPrev   bool
		want      *float64
	}{
		{"no previous sample", 0, 10, time.Second, false, nil},
		{"steady", 100, 160, 2 * time.Second, true, ptr(30)},
		{"idle", 5, 5, time.Second, true, ptr(0)},
		{"counter went down (recreated)", 50, 3, time.Second, true, nil},
		{"zero interval", 1, 2, 0, true, nil},
	}
	for _, tt := range tests {
		got := rate(tt.prev, tt.cur, tt.dt, tt.hasPrev)
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("%s: rate = %v, want %v", tt.name, deref(got), deref(tt.want))
		}
	}
}

func TestETA(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		remaining uint64
		rate      *float64
		want      *float64
	}{
		{"nothing left", 0, nil, ptr(0)},
		{"nothing left, stalled", 0, ptr(0), ptr(0)},
		{"unknown rate", 10, nil, nil},
		{"stalled", 10, ptr(0), nil},
		{"draining", 300, ptr(20), ptr(15)},
	}
	for _, tt := range tests {
		got := eta(tt.remaining, tt.rate)
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("%s: eta = %v, want %v", tt.name, deref(got), deref(tt.want))
		}
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func TestBar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		frac  float64
		width int
		want  string
	}{
		{0, 4, "[░░░░]"},
		{0.5, 4, "[██░░]"},
		{1, 4, "[████]"},
		{1.7, 4, "[████]"},
		{-1, 4, "[░░░░]"},
		{0.33, 10, "[███░░░░░░░]"},
	}
	for _, tt := range tests {
		if got := bar(tt.frac, tt.width); got != tt.want {
			t.Errorf("bar(%v, %d) = %q, want %q", tt.frac, tt.width, got, tt.want)
		}
	}
}

func TestDoneFraction(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		done, remaining uint64
		want            float64
	}{{0, 0, 1}, {0, 5, 0}, {3, 1, 0.75}, {7, 0, 1}} {
		if got := doneFraction(tt.done, tt.remaining); got != tt.want {
			t.Errorf("doneFraction(%d, %d) = %v, want %v", tt.done, tt.remaining, got, tt.want)
		}
	}
}

func TestFormatETA(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    *float64
		want string
	}{
		{nil, "-"},
		{ptr(0), "0s"},
		{ptr(41.6), "42s"},
		{ptr(750), "12m30s"},
		{ptr(3*3600 + 5*60 + 10), "3h05m"},
		{ptr(52 * 3600), "2d04h"},
	}
	for _, tt := range tests {
		if got := formatETA(tt.s); got != tt.want {
			t.Errorf("formatETA(%v) = %q, want %q", deref(tt.s), got, tt.want)
		}
	}
}

// twoSamples is a provider two seconds into a run, with a stalled loader.
func twoSamples() (statusSample, statusSample) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	prev := statusSample{
		At: t0,
		Providers: []providerSample{{Name: "amazonads",
			Tasks:  consumerCounts{Exists: true, Delivered: 10, Pending: 90, AckPending: 4},
			Quotas: []quotaSample{{Name: "create", Rate: 8, Ceiling: 8, Issued: 100, Throttled: 2, KeyThrottled: 1, Keys: 3}}}},
		Stages: []stageSample{
			{Stage: "stage", Stream: "RAW", Consumer: "staging-store", Counts: consumerCounts{Exists: true, Delivered: 100, Pending: 0}},
			{Stage: "load", Stream: "ROWS", Consumer: "loader", Counts: consumerCounts{Exists: true, Delivered: 50, Pending: 40, AckPending: 10}},
			{Stage: "transform", Stream: "STAGED", Consumer: "transformer"},
		},
	}
	cur := statusSample{
		At: t0.Add(2 * time.Second),
		Providers: []providerSample{{Name: "amazonads",
			Tasks: consumerCounts{Exists: true, Delivered: 20, Pending: 80, AckPending: 4, Redelivered: 1},
			Quotas: []quotaSample{{Name: "create", Rate: 6, Ceiling: 8, Issued: 112, Throttled: 4, KeyThrottled: 1, Keys: 3,
				PausedUntil: t0.Add(time.Minute)}}, EventsWaiting: 2}},
		Stages: []stageSample{
			{Stage: "stage", Stream: "RAW", Consumer: "staging-store", Counts: consumerCounts{Exists: true, Delivered: 130, Pending: 0}},
			{Stage: "load", Stream: "ROWS", Consumer: "loader", Counts: consumerCounts{Exists: true, Delivered: 50, Pending: 60, AckPending: 10}},
			{Stage: "transform", Stream: "STAGED", Consumer: "transformer"},
		},
		DLQ: map[string]uint64{"sluice.dlq.transform.amazonads.sp_campaigns": 3, "sluice.dlq.load.demo.items": 1},
	}
	return prev, cur
}

func TestBuildReport(t *testing.T) {
	t.Parallel()
	prev, cur := twoSamples()
	r := buildReport(&prev, cur)
	if r.IntervalSeconds != 2 {
		t.Errorf("interval %v, want 2", r.IntervalSeconds)
	}
	p := r.Providers[0]
	if p.TasksDone != 16 || p.TasksPending != 80 || p.TasksRunning != 4 || p.TasksRedelivered != 1 {
		t.Errorf("tasks %+v", p)
	}
	// done 6 → 16 in 2s: 5/s; 84 left: 16.8s.
	if deref(p.TasksPerSecond) != 5.0 || deref(p.ETASeconds) != 16.8 {
		t.Errorf("tasks rate %v eta %v, want 5 and 16.8", deref(p.TasksPerSecond), deref(p.ETASeconds))
	}
	if p.Throttled != 4 || deref(p.ThrottledPerSecond) != 1.0 || p.DeadLetters != 3 || p.EventsWaiting != 2 {
		t.Errorf("throttled %d (%v/s), dead letters %d, events waiting %d; want 4, 1/s, 3, 2", p.Throttled, deref(p.ThrottledPerSecond), p.DeadLetters, p.EventsWaiting)
	}
	q := p.Quotas[0]
	if deref(q.IssuedPerSecond) != 6.0 || deref(q.Utilization) != 1.0 || q.PausedUntil == nil {
		t.Errorf("quota %+v: want 6 issued/s, utilization 1 of the allowed 6/s, a pause", q)
	}
	st := map[string]stageStatus{}
	for _, s := range r.Stages {
		st[s.Consumer] = s
	}
	if s := st["staging-store"]; s.Done != 130 || s.Lag != 0 || deref(s.PerSecond) != 15.0 || deref(s.ETASeconds) != 0.0 {
		t.Errorf("staging-store %+v", s)
	}
	if s := st["loader"]; s.Lag != 60 || s.InFlight != 10 || deref(s.PerSecond) != 0.0 || s.ETASeconds != nil {
		t.Errorf("stalled loader %+v: want lag 60, rate 0, no ETA", s)
	}
	if s := st["transformer"]; s.Exists || s.PerSecond != nil {
		t.Errorf("missing transformer %+v", s)
	}
	if r.DLQ.Messages != 4 || r.DLQ.ByStage["transform"] != 3 || r.DLQ.ByProvider["demo"] != 1 {
		t.Errorf("dlq %+v", r.DLQ)
	}
}

// The JSON document is for scripts: its field names are an interface.
func TestReportJSONShape(t *testing.T) {
	t.Parallel()
	_, cur := twoSamples()
	data, err := json.Marshal(buildReport(nil, cur))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["interval_seconds"] != 0.0 {
		t.Errorf("one sample: interval_seconds %v, want 0", doc["interval_seconds"])
	}
	prov := doc["providers"].([]any)[0].(map[string]any)
	for _, k := range []string{"provider", "consumer", "tasks_done", "tasks_pending", "tasks_running", "tasks_redelivered",
		"tasks_per_second", "eta_seconds", "throttled", "throttled_per_second", "quotas", "dead_letters", "events_waiting"} {
		if _, ok := prov[k]; !ok {
			t.Errorf("provider lacks %q: %v", k, prov)
		}
	}
	if prov["tasks_per_second"] != nil || prov["eta_seconds"] != nil {
		t.Errorf("one sample: rates must be null, got %v %v", prov["tasks_per_second"], prov["eta_seconds"])
	}
	quota := prov["quotas"].([]any)[0].(map[string]any)
	for _, k := range []string{"quota", "rate", "ceiling", "issued", "throttled", "keys", "paused_until", "issued_per_second", "utilization"} {
		if _, ok := quota[k]; !ok {
			t.Errorf("quota lacks %q: %v", k, quota)
		}
	}
	stage := doc["stages"].([]any)[0].(map[string]any)
	for _, k := range []string{"stage", "stream", "consumer", "exists", "done", "lag", "in_flight", "redelivered", "per_second", "eta_seconds"} {
		if _, ok := stage[k]; !ok {
			t.Errorf("stage lacks %q: %v", k, stage)
		}
	}
	dlq := doc["dlq"].(map[string]any)
	if dlq["messages"] != 4.0 || dlq["by_stage"] == nil || dlq["by_provider"] == nil {
		t.Errorf("dlq %v", dlq)
	}
}

func TestRenderText(t *testing.T) {
	t.Parallel()
	prev, cur := twoSamples()
	r := buildReport(&prev, cur)
	for _, bars := range []bool{false, true} {
		var b bytes.Buffer
		if err := renderText(&b, r, bars); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, want := range []string{"(rates over 2.0s)", "amazonads", "17s", "create", "staging-store", "not created", "DLQ: 4 messages (load 1, transform 3)", "EVENTS"} {
			if !strings.Contains(out, want) {
				t.Errorf("bars=%v: output lacks %q:\n%s", bars, want, out)
			}
		}
		if strings.Contains(out, "█") != bars {
			t.Errorf("bars=%v: progress bars shown = %v:\n%s", bars, !bars, out)
		}
	}
	var b bytes.Buffer
	if err := renderText(&b, buildReport(nil, statusSample{At: time.Unix(0, 0)}), false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "no provider has a task consumer yet") {
		t.Errorf("empty status:\n%s", b.String())
	}
}
