package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// statusSample is what one look at JetStream sees: raw counters, no rates.
type statusSample struct {
	At        time.Time
	Providers []providerSample
	Stages    []stageSample
	DLQ       map[string]uint64 // messages per DLQ subject
	Transfers transferSample
}

// consumerCounts are the counters of one durable consumer.
type consumerCounts struct {
	Exists bool
	// Delivered counts deliveries (redeliveries included); Pending the messages not yet
	// delivered (the lag); AckPending those delivered and not yet acknowledged.
	Delivered, Pending      uint64
	AckPending, Redelivered int
}

// done is the deliveries that have ended (acked, retried or dead-lettered).
func (c consumerCounts) done() uint64 {
	if uint64(c.AckPending) > c.Delivered {
		return 0
	}
	return c.Delivered - uint64(c.AckPending)
}

// remaining is the work left: not yet delivered plus in flight.
func (c consumerCounts) remaining() uint64 { return c.Pending + uint64(c.AckPending) }

type providerSample struct {
	Name   string
	Tasks  consumerCounts
	Quotas []quotaSample
	// EventsWaiting counts the provider's events in EVENTS: sent, not yet planned.
	EventsWaiting uint64
}

// quotaSample is one quota of a provider's shared rate governor (sluice-limits).
type quotaSample struct {
	Name    string
	Rate    float64 // allowed rate now, requests/s, shared by all replicas
	Ceiling float64
	Issued  uint64 // permits reserved by all replicas
	// Throttled counts 429s charged to the quota; KeyThrottled those charged to its
	// per-key limits (e.g. per profile), over Keys keys.
	Throttled, KeyThrottled uint64
	Keys                    int
	PausedUntil             time.Time
}

// throttles is the quota's count of 429s. A throttle is charged to the quota, to the key, or
// to both (the default), so the larger of the two counts is exact unless a provider mixes
// scopes, when it is a lower bound.
func (q quotaSample) throttles() uint64 { return max(q.Throttled, q.KeyThrottled) }

type stageSample struct {
	Stage, Stream, Consumer string
	Counts                  consumerCounts
}

// statusReport is the `sluice status --json` document.
type statusReport struct {
	Time time.Time `json:"time"`
	// IntervalSeconds is the time between the two samples rates are computed from; 0 when
	// there was one sample and rates are null.
	IntervalSeconds float64          `json:"interval_seconds"`
	Providers       []providerStatus `json:"providers"`
	Stages          []stageStatus    `json:"stages"`
	DLQ             dlqStatus        `json:"dlq"`
	Transfers       transferStatus   `json:"transfers"`
}

type providerStatus struct {
	Provider string `json:"provider"`
	// Consumer is the durable consumer of the provider's tasks on TASKS.
	Consumer string `json:"consumer"`
	// TasksDone counts task deliveries that ended (a retried task counts once per try);
	// TasksPending those not started; TasksRunning those started and not finished.
	TasksDone        uint64   `json:"tasks_done"`
	TasksPending     uint64   `json:"tasks_pending"`
	TasksRunning     int      `json:"tasks_running"`
	TasksRedelivered int      `json:"tasks_redelivered"`
	TasksPerSecond   *float64 `json:"tasks_per_second"`
	// ETASeconds is (pending + running) ÷ rate; 0 when nothing is left, null when the rate
	// is unknown or zero.
	ETASeconds *float64 `json:"eta_seconds"`
	// Throttled counts HTTP 429s reported to the shared rate governor by all replicas.
	Throttled          uint64        `json:"throttled"`
	ThrottledPerSecond *float64      `json:"throttled_per_second"`
	Quotas             []quotaStatus `json:"quotas"`
	// DeadLetters is the provider's messages in the DLQ stream, all stages.
	DeadLetters uint64 `json:"dead_letters"`
	// EventsWaiting is the provider's events in the EVENTS stream not planned yet (for
	// example while it is scaled to zero).
	EventsWaiting uint64 `json:"events_waiting"`
}

type quotaStatus struct {
	Quota string `json:"quota"`
	// Rate is the allowed rate (requests/s) the adaptive governor chose, at most Ceiling.
	Rate      float64 `json:"rate"`
	Ceiling   float64 `json:"ceiling"`
	Issued    uint64  `json:"issued"`
	Throttled uint64  `json:"throttled"`
	// Keys is the number of per-key limits (e.g. profiles) with state.
	Keys            int        `json:"keys,omitempty"`
	PausedUntil     *time.Time `json:"paused_until,omitempty"`
	IssuedPerSecond *float64   `json:"issued_per_second"`
	// Utilization is IssuedPerSecond ÷ Rate: the share of the quota in use.
	Utilization *float64 `json:"utilization"`
}

type stageStatus struct {
	Stage    string `json:"stage"`
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	// Exists is false when the consumer is not created yet (its service never started).
	Exists      bool     `json:"exists"`
	Done        uint64   `json:"done"`
	Lag         uint64   `json:"lag"`
	InFlight    int      `json:"in_flight"`
	Redelivered int      `json:"redelivered"`
	PerSecond   *float64 `json:"per_second"`
	ETASeconds  *float64 `json:"eta_seconds"`
}

type dlqStatus struct {
	Messages   uint64            `json:"messages"`
	ByStage    map[string]uint64 `json:"by_stage"`
	ByProvider map[string]uint64 `json:"by_provider"`
}

// rate is the growth per second of a counter between two samples dt apart; nil when there
// is no earlier sample or the counter went down (a consumer or bucket was recreated).
func rate(prev, cur uint64, dt time.Duration, hasPrev bool) *float64 {
	if !hasPrev || dt <= 0 || cur < prev {
		return nil
	}
	r := float64(cur-prev) / dt.Seconds()
	return &r
}

// eta is remaining ÷ rate in seconds: 0 when nothing remains, nil when the rate is unknown
// or zero (stalled).
func eta(remaining uint64, perSecond *float64) *float64 {
	if remaining == 0 {
		z := 0.0
		return &z
	}
	if perSecond == nil || *perSecond <= 0 {
		return nil
	}
	s := float64(remaining) / *perSecond
	return &s
}

// buildReport turns the current sample, and the previous one when there is one, into the
// report: rates are deltas between the two.
func buildReport(prev *statusSample, cur statusSample) statusReport {
	var dt time.Duration
	if prev != nil {
		dt = cur.At.Sub(prev.At)
	}
	r := statusReport{Time: cur.At.UTC(), Providers: []providerStatus{}, Stages: []stageStatus{},
		DLQ: dlqStatus{ByStage: map[string]uint64{}, ByProvider: map[string]uint64{}}}
	if prev != nil && dt > 0 {
		r.IntervalSeconds = dt.Seconds()
	}
	var prevTransfers *transferSample
	if prev != nil {
		prevTransfers = &prev.Transfers
	}
	r.Transfers = buildTransfers(prevTransfers, cur.Transfers, dt)
	for subject, n := range cur.DLQ {
		r.DLQ.Messages += n
		// sluice.dlq.<stage>.<provider>.<dataset>
		parts := strings.Split(subject, ".")
		if len(parts) >= 4 {
			r.DLQ.ByStage[parts[2]] += n
			r.DLQ.ByProvider[parts[3]] += n
		}
	}
	for _, p := range cur.Providers {
		var pp *providerSample
		if prev != nil {
			for i := range prev.Providers {
				if prev.Providers[i].Name == p.Name {
					pp = &prev.Providers[i]
				}
			}
		}
		ps := providerStatus{
			Provider: p.Name, Consumer: "extractor-" + p.Name,
			TasksDone: p.Tasks.done(), TasksPending: p.Tasks.Pending, TasksRunning: p.Tasks.AckPending,
			TasksRedelivered: p.Tasks.Redelivered, Quotas: []quotaStatus{}, DeadLetters: r.DLQ.ByProvider[p.Name],
			EventsWaiting: p.EventsWaiting,
		}
		var prevTasks consumerCounts
		if pp != nil {
			prevTasks = pp.Tasks
		}
		ps.TasksPerSecond = rate(prevTasks.done(), p.Tasks.done(), dt, pp != nil && prevTasks.Exists && p.Tasks.Exists)
		ps.ETASeconds = eta(p.Tasks.remaining(), ps.TasksPerSecond)
		var prevThrottled uint64
		for _, q := range p.Quotas {
			ps.Throttled += q.throttles()
			qs := quotaStatus{Quota: q.Name, Rate: q.Rate, Ceiling: q.Ceiling, Issued: q.Issued, Throttled: q.throttles(), Keys: q.Keys}
			if !q.PausedUntil.IsZero() && q.PausedUntil.After(cur.At) {
				t := q.PausedUntil.UTC()
				qs.PausedUntil = &t
			}
			if pp != nil {
				for _, pq := range pp.Quotas {
					if pq.Name == q.Name {
						qs.IssuedPerSecond = rate(pq.Issued, q.Issued, dt, true)
					}
				}
			}
			if qs.IssuedPerSecond != nil && q.Rate > 0 {
				u := *qs.IssuedPerSecond / q.Rate
				qs.Utilization = &u
			}
			ps.Quotas = append(ps.Quotas, qs)
		}
		if pp != nil {
			for _, q := range pp.Quotas {
				prevThrottled += q.throttles()
			}
			ps.ThrottledPerSecond = rate(prevThrottled, ps.Throttled, dt, true)
		}
		r.Providers = append(r.Providers, ps)
	}
	for _, s := range cur.Stages {
		var ps *stageSample
		if prev != nil {
			for i := range prev.Stages {
				if prev.Stages[i].Stream == s.Stream && prev.Stages[i].Consumer == s.Consumer {
					ps = &prev.Stages[i]
				}
			}
		}
		st := stageStatus{Stage: s.Stage, Stream: s.Stream, Consumer: s.Consumer, Exists: s.Counts.Exists,
			Done: s.Counts.done(), Lag: s.Counts.Pending, InFlight: s.Counts.AckPending, Redelivered: s.Counts.Redelivered}
		if ps != nil {
			st.PerSecond = rate(ps.Counts.done(), s.Counts.done(), dt, ps.Counts.Exists && s.Counts.Exists)
		}
		st.ETASeconds = eta(s.Counts.remaining(), st.PerSecond)
		r.Stages = append(r.Stages, st)
	}
	return r
}

// bar renders a progress bar of width cells for frac in [0, 1].
func bar(frac float64, width int) string {
	if math.IsNaN(frac) || frac < 0 {
		frac = 0
	}
	frac = min(frac, 1)
	full := int(math.Round(frac * float64(width)))
	return "[" + strings.Repeat("█", full) + strings.Repeat("░", width-full) + "]"
}

// doneFraction is done ÷ (done + remaining); 1 when there was nothing to do.
func doneFraction(done, remaining uint64) float64 {
	if done+remaining == 0 {
		return 1
	}
	return float64(done) / float64(done+remaining)
}

// formatETA renders seconds as 42s, 12m30s, 3h05m or 2d04h; "-" when unknown.
func formatETA(s *float64) string {
	if s == nil {
		return "-"
	}
	d := time.Duration(math.Round(*s)) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

func formatRate(r *float64) string {
	if r == nil {
		return "-"
	}
	return strconv.FormatFloat(*r, 'f', 1, 64)
}

// renderText writes the report as tables; bars adds progress bars (on a terminal).
func renderText(w io.Writer, r statusReport, bars bool) error {
	const barWidth = 24
	var b strings.Builder
	fmt.Fprintf(&b, "sluice status at %s", r.Time.Format(time.RFC3339))
	if r.IntervalSeconds > 0 {
		fmt.Fprintf(&b, " (rates over %.1fs)", r.IntervalSeconds)
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	progressCol := func(done, remaining uint64) string {
		if !bars {
			return ""
		}
		return bar(doneFraction(done, remaining), barWidth) + "\t"
	}
	head := func(cols ...string) {
		if !bars {
			cols = cols[1:]
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	if len(r.Providers) == 0 {
		b.WriteString("no provider has a task consumer yet (is an extractor started?)\n")
	} else {
		head("TASKS", "PROVIDER", "DONE", "PENDING", "RUNNING", "RETRIED", "RATE/s", "ETA", "429s", "429s/s", "DLQ", "EVENTS")
		for _, p := range r.Providers {
			fmt.Fprintf(tw, "%s%s\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%s\t%d\t%d\n", progressCol(p.TasksDone, p.TasksPending+uint64(p.TasksRunning)),
				p.Provider, p.TasksDone, p.TasksPending, p.TasksRunning, p.TasksRedelivered, formatRate(p.TasksPerSecond),
				formatETA(p.ETASeconds), p.Throttled, formatRate(p.ThrottledPerSecond), p.DeadLetters, p.EventsWaiting)
		}
		tw.Flush()
	}
	var quotas bool
	for _, p := range r.Providers {
		quotas = quotas || len(p.Quotas) > 0
	}
	if quotas {
		b.WriteString("\n")
		head("USE", "PROVIDER", "QUOTA", "ALLOWED/s", "CEILING/s", "ISSUED/s", "USE", "429s", "KEYS", "PAUSED")
		for _, p := range r.Providers {
			for _, q := range p.Quotas {
				use, useBar := "-", ""
				if q.Utilization != nil {
					use = fmt.Sprintf("%.0f%%", *q.Utilization*100)
				}
				if bars {
					u := 0.0
					if q.Utilization != nil {
						u = *q.Utilization
					}
					useBar = bar(u, barWidth) + "\t"
				}
				paused := "-"
				if q.PausedUntil != nil {
					paused = "until " + q.PausedUntil.Format(time.TimeOnly)
				}
				fmt.Fprintf(tw, "%s%s\t%s\t%.1f\t%.1f\t%s\t%s\t%d\t%d\t%s\n", useBar, p.Provider, q.Quota, q.Rate, q.Ceiling,
					formatRate(q.IssuedPerSecond), use, q.Throttled, q.Keys, paused)
			}
		}
		tw.Flush()
	}
	b.WriteString("\n")
	head("PROGRESS", "STAGE", "CONSUMER", "STREAM", "DONE", "LAG", "IN FLIGHT", "RETRIED", "RATE/s", "ETA")
	for _, s := range r.Stages {
		if !s.Exists {
			pad := ""
			if bars {
				pad = strings.Repeat(" ", barWidth+2) + "\t"
			}
			fmt.Fprintf(tw, "%s%s\t%s\t%s\tnot created (service not started yet)\n", pad, s.Stage, s.Consumer, s.Stream)
			continue
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", progressCol(s.Done, s.Lag+uint64(s.InFlight)),
			s.Stage, s.Consumer, s.Stream, s.Done, s.Lag, s.InFlight, s.Redelivered, formatRate(s.PerSecond), formatETA(s.ETASeconds))
	}
	tw.Flush()
	noun := "messages"
	if r.DLQ.Messages == 1 {
		noun = "message"
	}
	fmt.Fprintf(&b, "\nDLQ: %d %s", r.DLQ.Messages, noun)
	if len(r.DLQ.ByStage) > 0 {
		stages := make([]string, 0, len(r.DLQ.ByStage))
		for s := range r.DLQ.ByStage {
			stages = append(stages, s)
		}
		sort.Strings(stages)
		var parts []string
		for _, s := range stages {
			parts = append(parts, fmt.Sprintf("%s %d", s, r.DLQ.ByStage[s]))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	b.WriteString("\n")
	renderTransfers(&b, r.Transfers, bars)
	_, err := io.WriteString(w, b.String())
	return err
}
