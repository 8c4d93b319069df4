package sim

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func validBody() map[string]any {
	return map[string]any{
		"name":      "daily campaigns",
		"startDate": "2024-06-01",
		"endDate":   "2024-06-07",
		"configuration": map[string]any{
			"adProduct":    AdSponsoredProducts,
			"reportTypeId": ReportSPCampaigns,
			"groupBy":      []string{"campaign"},
			"columns":      []string{"campaignId", "impressions", "date"},
			"timeUnit":     TimeUnitDaily,
			"format":       FormatGzipJSON,
		},
	}
}

func TestParseCreate(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	prof := Profile{ProfileID: 7, Timezone: "America/Los_Angeles"}
	now := time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC)
	conf := func(b map[string]any) map[string]any { return b["configuration"].(map[string]any) }
	tests := []struct {
		name    string
		edit    func(b map[string]any)
		raw     string // used instead of the body when set
		wantErr string // substring; empty means valid
	}{
		{name: "valid"},
		{name: "summary", edit: func(b map[string]any) {
			conf(b)["timeUnit"] = TimeUnitSummary
			conf(b)["columns"] = []string{"campaignId", "startDate", "endDate", "clicks"}
		}},
		{name: "ad groups with filter", edit: func(b map[string]any) {
			conf(b)["reportTypeId"] = ReportSPAdGroups
			conf(b)["groupBy"] = []string{"adGroup"}
			conf(b)["columns"] = []string{"adGroupId", "adStatus", "date"}
			conf(b)["filters"] = []Filter{{Field: "adStatus", Values: []string{"ENABLED"}}}
		}},
		{name: "31 days", edit: func(b map[string]any) { b["startDate"], b["endDate"] = "2024-05-01", "2024-05-31" }},
		{name: "32 days", edit: func(b map[string]any) { b["startDate"], b["endDate"] = "2024-05-01", "2024-06-01" },
			wantErr: "maximum is 31 days"},
		{name: "malformed json", raw: `{"name":`, wantErr: "malformed"},
		{name: "unknown field", edit: func(b map[string]any) { b["reportName"] = "x" }, wantErr: "unknown field"},
		{name: "missing dates", edit: func(b map[string]any) { delete(b, "endDate") }, wantErr: "endDate are required"},
		{name: "bad date", edit: func(b map[string]any) { b["startDate"] = "06/01/2024" }, wantErr: "YYYY-MM-DD"},
		{name: "reversed", edit: func(b map[string]any) { b["startDate"] = "2024-06-08" }, wantErr: "after endDate"},
		{name: "future", edit: func(b map[string]any) { b["endDate"] = "2024-06-16" }, wantErr: "in the future"},
		{name: "beyond retention", edit: func(b map[string]any) { b["startDate"], b["endDate"] = "2024-03-01", "2024-03-02" },
			wantErr: "retention"},
		{name: "no configuration", edit: func(b map[string]any) { delete(b, "configuration") }, wantErr: "configuration is required"},
		{name: "bad adProduct", edit: func(b map[string]any) { conf(b)["adProduct"] = "TV" }, wantErr: "adProduct"},
		{name: "wrong adProduct", edit: func(b map[string]any) { conf(b)["adProduct"] = AdSponsoredBrands }, wantErr: "requires adProduct"},
		{name: "unknown report type", edit: func(b map[string]any) { conf(b)["reportTypeId"] = "spFoo" }, wantErr: "invalid reportTypeId"},
		{name: "not simulated report type", edit: func(b map[string]any) { conf(b)["reportTypeId"] = "spSearchTerm" }, wantErr: "not simulated"},
		{name: "no groupBy", edit: func(b map[string]any) { conf(b)["groupBy"] = []string{} }, wantErr: "groupBy is required"},
		{name: "bad groupBy", edit: func(b map[string]any) { conf(b)["groupBy"] = []string{"keyword"} }, wantErr: `groupBy "keyword"`},
		{name: "no columns", edit: func(b map[string]any) { conf(b)["columns"] = []string{} }, wantErr: "columns must not be empty"},
		{name: "unknown column", edit: func(b map[string]any) { conf(b)["columns"] = []string{"date", "roas"} }, wantErr: `column "roas"`},
		{name: "duplicate column", edit: func(b map[string]any) { conf(b)["columns"] = []string{"date", "date"} }, wantErr: "twice"},
		{name: "daily without date", edit: func(b map[string]any) { conf(b)["columns"] = []string{"clicks"} }, wantErr: "requires the date column"},
		{name: "daily with startDate", edit: func(b map[string]any) { conf(b)["columns"] = []string{"date", "startDate"} }, wantErr: "not valid with timeUnit DAILY"},
		{name: "summary with date", edit: func(b map[string]any) { conf(b)["timeUnit"] = TimeUnitSummary }, wantErr: "not valid with timeUnit SUMMARY"},
		{name: "no timeUnit", edit: func(b map[string]any) { delete(conf(b), "timeUnit") }, wantErr: "timeUnit is required"},
		{name: "bad timeUnit", edit: func(b map[string]any) { conf(b)["timeUnit"] = "WEEKLY" }, wantErr: "timeUnit"},
		{name: "bad format", edit: func(b map[string]any) { conf(b)["format"] = "CSV" }, wantErr: "format"},
		{name: "adGroup column at campaign level", edit: func(b map[string]any) { conf(b)["columns"] = []string{"adGroupId", "date"} },
			wantErr: "requires groupBy adGroup"},
		{name: "bad filter field", edit: func(b map[string]any) { conf(b)["filters"] = []Filter{{Field: "x", Values: []string{"ENABLED"}}} },
			wantErr: "filter field"},
		{name: "bad filter value", edit: func(b map[string]any) {
			conf(b)["filters"] = []Filter{{Field: "campaignStatus", Values: []string{"on"}}}
		}, wantErr: "must be ENABLED"},
		{name: "adStatus filter at campaign level", edit: func(b map[string]any) {
			conf(b)["filters"] = []Filter{{Field: "adStatus", Values: []string{"ENABLED"}}}
		}, wantErr: "requires groupBy adGroup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := validBody()
			if tt.edit != nil {
				tt.edit(body)
			}
			raw, _ := json.Marshal(body)
			if tt.raw != "" {
				raw = []byte(tt.raw)
			}
			req, err := parseCreate(strings.NewReader(string(raw)), prof, time.UTC, cfg.Data, now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if req.plan == nil || req.dupKey == "" {
					t.Fatalf("incomplete request %+v", req)
				}
				return
			}
			var re *requestError
			if !errors.As(err, &re) || !strings.Contains(re.msg, tt.wantErr) {
				t.Fatalf("error %v, want a request error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDuplicateKey(t *testing.T) {
	t.Parallel()
	base := ReportConfiguration{AdProduct: AdSponsoredProducts, ReportTypeID: ReportSPCampaigns,
		GroupBy: []string{"campaign"}, Columns: []string{"date", "clicks"}, TimeUnit: TimeUnitDaily, Format: FormatGzipJSON}
	reordered := base
	reordered.Columns = []string{"clicks", "date"}
	moreCols := base
	moreCols.Columns = []string{"clicks", "date", "cost"}
	tests := []struct {
		name      string
		profile   int64
		start     day
		c         ReportConfiguration
		duplicate bool
	}{
		{"identical", 1, 10, base, true},
		{"columns reordered", 1, 10, reordered, true},
		{"other profile", 2, 10, base, false},
		{"other dates", 1, 11, base, false},
		{"other columns", 1, 10, moreCols, false},
	}
	ref := duplicateKey(1, 10, 12, base)
	for _, tt := range tests {
		if got := duplicateKey(tt.profile, tt.start, 12, tt.c) == ref; got != tt.duplicate {
			t.Errorf("%s: duplicate = %v, want %v", tt.name, got, tt.duplicate)
		}
	}
}
