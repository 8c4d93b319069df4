package amazonads

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
)

// Task kind of one report of one profile and window.
const kindReport = "report"

const day = "2006-01-02"

// taskParams say which report a task extracts.
type taskParams struct {
	ProfileID  string `json:"profile_id"`
	Country    string `json:"country,omitempty"`
	Currency   string `json:"currency,omitempty"`
	Timezone   string `json:"timezone,omitempty"`
	ReportType string `json:"report_type"`
	Start      string `json:"start"`
	End        string `json:"end"`
}

// window is a date range, both days included.
type window struct{ start, end time.Time }

// windows splits from..to into ranges of at most size days.
func windows(from, to time.Time, size int) []window {
	var out []window
	for s := from; !s.After(to); s = s.AddDate(0, 0, size) {
		e := s.AddDate(0, 0, size-1)
		if e.After(to) {
			e = to
		}
		out = append(out, window{s, e})
	}
	return out
}

// dateRange is the days a trigger extracts: its From..To, reaching back LookbackDays for
// scheduled and event runs (late data), never beyond retention nor past yesterday (UTC;
// yesterday in UTC is not in the future in any profile's timezone).
func (c *Config) dateRange(t provider.Trigger, now time.Time) (from, to time.Time) {
	from, to = truncDay(t.From), truncDay(t.To)
	if t.Source != "cli" {
		if lb := to.AddDate(0, 0, 1-c.LookbackDays); lb.Before(from) {
			from = lb
		}
	}
	today := truncDay(now)
	if last := today.AddDate(0, 0, -1); to.After(last) {
		to = last
	}
	// Two days of slack: a profile's timezone can be a day ahead of UTC.
	if first := today.AddDate(0, 0, 2-c.RetentionDays); from.Before(first) {
		from = first
	}
	return from, to
}

func truncDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Plan lists the profiles (skipping agency profiles, which cannot be reported on) and
// plans one task per profile, report type and window. Param "profile" restricts the run
// to one profile (an event about that profile).
func (p *amazonAds) Plan(ctx context.Context, t provider.Trigger) ([]provider.Task, error) {
	from, to := p.cfg.dateRange(t, time.Now())
	if from.After(to) {
		p.log.WarnContext(ctx, "nothing to plan: the range is outside the days the API serves", "from", t.From, "to", t.To)
		return nil, nil
	}
	profiles, err := p.api.profiles(ctx)
	if err != nil {
		return nil, err
	}
	only := t.Params["profile"]
	slices.SortFunc(profiles, func(a, b profile) int { return int(min(max(a.ProfileID-b.ProfileID, -1), 1)) })
	var tasks []provider.Task
	skipped := 0
	for _, pr := range profiles {
		id := strconv.FormatInt(pr.ProfileID, 10)
		if only != "" && id != only {
			continue
		}
		if pr.AccountInfo.Type == "agency" {
			skipped++
			continue
		}
		for _, rt := range p.cfg.ReportTypes {
			for _, w := range windows(from, to, p.cfg.WindowDays) {
				tp := taskParams{ProfileID: id, Country: pr.CountryCode, Currency: pr.CurrencyCode, Timezone: pr.Timezone,
					ReportType: rt, Start: w.start.Format(day), End: w.end.Format(day)}
				task, err := provider.NewTask(kindReport, tp.key(), tp)
				if err != nil {
					return nil, err
				}
				tasks = append(tasks, task)
			}
		}
	}
	p.log.InfoContext(ctx, "planned", "profiles", len(profiles), "agency_skipped", skipped, "from", from.Format(day), "to", to.Format(day), "tasks", len(tasks))
	return tasks, nil
}

// key is the task key and the stem of its records' source keys.
func (tp taskParams) key() string {
	return fmt.Sprintf("profile=%s/%s/%s..%s", tp.ProfileID, tp.ReportType, tp.Start, tp.End)
}
