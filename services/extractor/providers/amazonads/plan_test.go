package amazonads

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func dayString(offset int) string { return time.Now().UTC().AddDate(0, 0, offset).Format(day) }

func TestWindows(t *testing.T) {
	t.Parallel()
	d := func(s string) time.Time { v, _ := time.Parse(day, s); return v }
	for _, tc := range []struct {
		from, to string
		size     int
		want     string
	}{
		{"2024-01-01", "2024-01-01", 31, "2024-01-01..2024-01-01"},
		{"2024-01-01", "2024-01-31", 31, "2024-01-01..2024-01-31"},
		{"2024-01-01", "2024-02-01", 31, "2024-01-01..2024-01-31 2024-02-01..2024-02-01"},
		{"2024-02-20", "2024-03-05", 7, "2024-02-20..2024-02-26 2024-02-27..2024-03-04 2024-03-05..2024-03-05"},
		{"2024-01-02", "2024-01-01", 31, ""},
	} {
		var got []string
		for _, w := range windows(d(tc.from), d(tc.to), tc.size) {
			got = append(got, w.start.Format(day)+".."+w.end.Format(day))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("windows(%s, %s, %d) = %v, want %s", tc.from, tc.to, tc.size, got, tc.want)
		}
	}
}

func TestDateRange(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 6, 20, 15, 0, 0, 0, time.UTC)
	d := func(s string) time.Time { v, _ := time.Parse(day, s); return v }
	c := DefaultConfig() // look-back 14, retention 95
	for _, tc := range []struct {
		name             string
		trig             provider.Trigger
		wantFrom, wantTo string
	}{
		{"cli exact", provider.Trigger{Source: "cli", From: d("2024-06-01"), To: d("2024-06-10")}, "2024-06-01", "2024-06-10"},
		{"schedule reaches back", provider.Trigger{Source: "schedule", From: d("2024-06-19"), To: d("2024-06-19")}, "2024-06-06", "2024-06-19"},
		{"no future days", provider.Trigger{Source: "cli", From: d("2024-06-18"), To: d("2024-06-25")}, "2024-06-18", "2024-06-19"},
		{"retention", provider.Trigger{Source: "cli", From: d("2024-01-01"), To: d("2024-06-01")}, "2024-03-19", "2024-06-01"},
	} {
		from, to := c.dateRange(tc.trig, now)
		if from.Format(day) != tc.wantFrom || to.Format(day) != tc.wantTo {
			t.Errorf("%s: %s..%s, want %s..%s", tc.name, from.Format(day), to.Format(day), tc.wantFrom, tc.wantTo)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"defaults", func(*Config) {}, ""},
		{"api url", func(c *Config) { c.APIURL = "ftp://x" }, "api_url"},
		{"report type", func(c *Config) { c.ReportTypes = []string{"spNope"} }, `"spNope" is not supported`},
		{"window", func(c *Config) { c.WindowDays = 40 }, "window_days 40"},
		{"poll", func(c *Config) { c.Poll.Initial = 0 }, "poll"},
		{"route to unknown quota", func(c *Config) { c.Limits.Routes[ClassStatus] = "nope" }, `quota "nope"`},
		{"unknown class", func(c *Config) { c.Limits.Routes["bogus"] = ClassStatus }, `unknown call class "bogus"`},
		{"quota rate", func(c *Config) { c.Limits.Quotas[ClassCreate] = Quota{Rate: 0} }, "Rate"},
		{"download ratio", func(c *Config) { c.Download.MaxRatio = 1 }, "max_ratio"},
	} {
		c := DefaultConfig()
		tc.change(c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}
