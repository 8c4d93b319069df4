package sim

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var twoDecimals = regexp.MustCompile(`^\d+(\.\d{1,2})?$`)

var testDay = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)

func reportable(t *testing.T, cfg Config) Profile {
	t.Helper()
	for _, p := range Profiles(cfg) {
		if p.Reportable() {
			return p
		}
	}
	t.Fatal("no reportable profile")
	return Profile{}
}

func TestProfiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		count                  int
		agency, vendor         float64
		wantAgency, wantVendor int
	}{
		{10, 0.1, 0.2, 1, 2},
		{100, 0.05, 0.3, 5, 30},
		{3, 0, 0, 0, 0},
		{4, 0.5, 0.5, 2, 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.count, tt.agency, tt.vendor), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Profiles = ProfilesConfig{Count: tt.count, AgencyShare: tt.agency, VendorShare: tt.vendor}
			ps := Profiles(cfg)
			if !reflect.DeepEqual(ps, Profiles(cfg)) {
				t.Fatal("profiles are not deterministic")
			}
			types := map[string]int{}
			ids := map[int64]bool{}
			for _, p := range ps {
				types[p.AccountInfo.Type]++
				if ids[p.ProfileID] {
					t.Errorf("duplicate profile id %d", p.ProfileID)
				}
				ids[p.ProfileID] = true
				if p.ProfileID < 1e15 || p.ProfileID >= 1<<53 {
					t.Errorf("profile id %d outside [1e15, 2^53)", p.ProfileID)
				}
				if _, err := time.LoadLocation(p.Timezone); err != nil {
					t.Errorf("timezone %q: %v", p.Timezone, err)
				}
			}
			if len(ps) != tt.count || types[AccountAgency] != tt.wantAgency || types[AccountVendor] != tt.wantVendor {
				t.Errorf("got %d profiles %v, want %d with %d agency and %d vendor",
					len(ps), types, tt.count, tt.wantAgency, tt.wantVendor)
			}
		})
	}
}

func TestRowsDeterministicAndShaped(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	prof := reportable(t, cfg)
	cols := []string{"campaignId", "campaignName", "campaignStatus", "campaignBudgetAmount", "impressions",
		"clicks", "cost", "purchases7d", "sales7d", "date"}
	tests := []struct {
		name     string
		mutate   func(*Config)
		typ      string
		cols     []string
		wantRows int
	}{
		{"campaigns", nil, ReportSPCampaigns, cols, 8},
		{"ad groups", nil, ReportSPAdGroups, append([]string{"adGroupId", "adGroupName", "adStatus"}, cols...), 24},
		{"bigger", func(c *Config) { c.Data.CampaignsPerProfile, c.Data.AdGroupsPerCampaign = 50, 4 },
			ReportSPAdGroups, []string{"adGroupId", "date", "clicks"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cfg
			if tt.mutate != nil {
				tt.mutate(&cfg)
			}
			rows, err := Rows(cfg, prof.ProfileID, tt.typ, tt.cols, testDay)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := Rows(cfg, prof.ProfileID, tt.typ, tt.cols, testDay)
			if !reflect.DeepEqual(rows, again) {
				t.Fatal("rows are not deterministic")
			}
			if len(rows) != tt.wantRows {
				t.Fatalf("got %d rows, want %d", len(rows), tt.wantRows)
			}
			for _, r := range rows {
				if len(r) != len(tt.cols) {
					t.Fatalf("row has keys %v, want exactly %v", r, tt.cols)
				}
				for _, c := range tt.cols {
					if _, ok := r[c]; !ok {
						t.Fatalf("row %v lacks %s", r, c)
					}
				}
				if r["date"] != "2024-06-01" {
					t.Errorf("date = %v", r["date"])
				}
				for _, idCol := range []string{"campaignId", "adGroupId"} {
					if id, ok := r[idCol]; ok && (id.(int64) < 1e14 || id.(int64) >= 1e15) {
						t.Errorf("%s %v is not a 15-digit id", idCol, id)
					}
				}
				if c, ok := r["cost"]; ok && !twoDecimals.MatchString(strconv.FormatFloat(c.(float64), 'f', -1, 64)) {
					t.Errorf("cost %v has more than two decimals", c)
				}
			}
			other := cfg
			other.Seed++
			diff, _ := Rows(other, prof.ProfileID, tt.typ, tt.cols, testDay)
			if reflect.DeepEqual(rows, diff) {
				t.Error("another seed gave the same rows")
			}
		})
	}
}

func TestCampaignMetricsAreSumsOfAdGroups(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	prof := reportable(t, cfg)
	cols := []string{"campaignId", "impressions", "clicks", "cost", "purchases1d", "purchases7d",
		"purchases14d", "purchases30d", "purchasesSameSku7d", "sales7d", "date"}
	camp, err := Rows(cfg, prof.ProfileID, ReportSPCampaigns, cols, testDay)
	if err != nil {
		t.Fatal(err)
	}
	ags, err := Rows(cfg, prof.ProfileID, ReportSPAdGroups, cols, testDay)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[int64]map[string]int64{}
	for _, r := range ags {
		id := r["campaignId"].(int64)
		if sums[id] == nil {
			sums[id] = map[string]int64{}
		}
		for _, c := range cols[1 : len(cols)-1] {
			switch v := r[c].(type) {
			case int64:
				sums[id][c] += v
			case float64:
				sums[id][c] += int64(v*100 + 0.5)
			}
		}
		if r["purchases1d"].(int64) > r["purchases7d"].(int64) || r["purchases7d"].(int64) > r["purchases14d"].(int64) ||
			r["purchases14d"].(int64) > r["purchases30d"].(int64) || r["purchasesSameSku7d"].(int64) > r["purchases7d"].(int64) {
			t.Errorf("windowed metrics not monotone: %v", r)
		}
		if r["clicks"].(int64) > r["impressions"].(int64) {
			t.Errorf("more clicks than impressions: %v", r)
		}
	}
	active := 0
	for _, r := range camp {
		id := r["campaignId"].(int64)
		for _, c := range cols[1 : len(cols)-1] {
			got := int64(0)
			switch v := r[c].(type) {
			case int64:
				got = v
			case float64:
				got = int64(v*100 + 0.5)
			}
			if got != sums[id][c] {
				t.Errorf("campaign %d %s = %d, sum of ad groups %d", id, c, got, sums[id][c])
			}
		}
		if r["impressions"].(int64) > 0 {
			active++
		}
	}
	if active == 0 {
		t.Error("no campaign has impressions")
	}
}

func TestSummaryIsSumOfDaily(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	prof := reportable(t, cfg)
	from, to := testDay, testDay.AddDate(0, 0, 6)
	daily, err := ReportRows(cfg, prof.ProfileID, ReportSpec{ReportTypeID: ReportSPCampaigns,
		Columns: []string{"campaignId", "clicks", "date"}, TimeUnit: TimeUnitDaily}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]int64{}
	n := 0
	for r := range daily {
		want[r["campaignId"].(int64)] += r["clicks"].(int64)
		n++
	}
	if n != 7*8 {
		t.Fatalf("daily rows = %d, want 56", n)
	}
	summary, err := ReportRows(cfg, prof.ProfileID, ReportSpec{ReportTypeID: ReportSPCampaigns,
		Columns: []string{"campaignId", "clicks", "startDate", "endDate"}, TimeUnit: TimeUnitSummary}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	for r := range summary {
		n++
		if r["clicks"].(int64) != want[r["campaignId"].(int64)] || r["startDate"] != "2024-06-01" || r["endDate"] != "2024-06-07" {
			t.Errorf("summary row %v, want clicks %d", r, want[r["campaignId"].(int64)])
		}
	}
	if n != 8 {
		t.Errorf("summary rows = %d, want 8", n)
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Data.CampaignsPerProfile = 40
	prof := reportable(t, cfg)
	spec := ReportSpec{ReportTypeID: ReportSPCampaigns, GroupBy: []string{"adGroup"},
		Columns: []string{"campaignStatus", "adStatus", "date"}, TimeUnit: TimeUnitDaily}
	all, err := ReportRows(cfg, prof.ProfileID, spec, testDay, testDay)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for r := range all {
		if r["campaignStatus"] == StatusEnabled && r["adStatus"] != StatusArchived {
			want++
		}
	}
	spec.Filters = []Filter{{Field: "campaignStatus", Values: []string{StatusEnabled}},
		{Field: "adStatus", Values: []string{StatusEnabled, StatusPaused}}}
	filtered, err := ReportRows(cfg, prof.ProfileID, spec, testDay, testDay)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for r := range filtered {
		got++
		if r["campaignStatus"] != StatusEnabled || r["adStatus"] == StatusArchived {
			t.Errorf("row %v passed the filters", r)
		}
	}
	if got != want || got == 0 {
		t.Errorf("filtered rows = %d, want %d (> 0)", got, want)
	}
}

func TestRowsErrors(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	var agency Profile
	for _, p := range Profiles(cfg) {
		if !p.Reportable() {
			agency = p
		}
	}
	prof := reportable(t, cfg)
	tests := []struct {
		name    string
		profile int64
		typ     string
		cols    []string
		want    error
	}{
		{"unknown profile", 42, ReportSPCampaigns, []string{"date"}, ErrUnknownProfile},
		{"agency profile", agency.ProfileID, ReportSPCampaigns, []string{"date"}, ErrAgencyProfile},
		{"no date column", prof.ProfileID, ReportSPCampaigns, []string{"clicks"}, ErrInvalidSpec},
		{"ad group column at campaign level", prof.ProfileID, ReportSPCampaigns, []string{"adGroupId", "date"}, ErrInvalidSpec},
		{"unsupported type", prof.ProfileID, "spSearchTerm", []string{"date"}, ErrInvalidSpec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Rows(cfg, tt.profile, tt.typ, tt.cols, testDay); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
