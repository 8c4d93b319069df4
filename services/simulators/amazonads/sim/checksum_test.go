package sim

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"testing"
	"time"
)

func TestRowChecksumCanonicalForm(t *testing.T) {
	t.Parallel()
	fnvOf := func(s string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(s))
		return h.Sum64()
	}
	// The documented canonical row, spelled out.
	want := fnvOf("campaignId=158410630682987\nclickThroughRate=0.0123\nclicks=13\ncost=14.5\ndate=2022-07-05\n")
	day := time.Date(2022, 7, 5, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		row  map[string]any
	}{
		{"simulator types", map[string]any{"campaignId": int64(158410630682987), "clicks": int64(13),
			"cost": 14.5, "clickThroughRate": 0.0123, "date": "2022-07-05"}},
		{"json float64", map[string]any{"campaignId": 158410630682987.0, "clicks": 13.0,
			"cost": 14.50, "clickThroughRate": 0.0123, "date": "2022-07-05"}},
		{"json.Number", map[string]any{"campaignId": json.Number("158410630682987"), "clicks": json.Number("13"),
			"cost": json.Number("14.50"), "clickThroughRate": json.Number("0.0123"), "date": "2022-07-05"}},
		{"postgres snake_case, numeric text, date, lineage", map[string]any{"campaign_id": int64(158410630682987),
			"clicks": int32(13), "cost": "14.50", "click_through_rate": "0.01230", "date": day,
			"record_id": "abc", "trace_id": "def", "loaded_at": time.Now(), "ad_group_id": nil}},
		{"float32 and timestamp string", map[string]any{"CAMPAIGNID": uint64(158410630682987), "clicks": 13,
			"cost": float32(14.5), "clickThroughRate": float32(0.0123), "date": "2022-07-05T00:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RowChecksum(tt.row); got != want {
				t.Errorf("RowChecksum = %x, want %x", got, want)
			}
		})
	}
	if RowChecksum(map[string]any{"clicks": 14}) == RowChecksum(map[string]any{"clicks": 13}) {
		t.Error("different values, same checksum")
	}
}

func TestSummaryOrderIndependent(t *testing.T) {
	t.Parallel()
	rows := []map[string]any{{"clicks": 1, "date": "2024-01-01"}, {"clicks": 2, "date": "2024-01-01"}, {"clicks": 3}}
	var a, b Summary
	for i := range rows {
		a.Add(rows[i])
		b.Add(rows[len(rows)-1-i])
	}
	if a != b || a.Rows != 3 {
		t.Errorf("summaries %+v and %+v differ", a, b)
	}
}

// TestExpectedMatchesRows checks that Expected (which hashes records
// directly) agrees with RowChecksum over the rows, including after a JSON
// round trip as a pipeline would do it, and skips agency profiles.
func TestExpectedMatchesRows(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Profiles.Count = 5
	cfg.Profiles.AgencyShare = 0.2
	specs := []ReportSpec{
		{ReportTypeID: ReportSPCampaigns, TimeUnit: TimeUnitDaily, Columns: []string{"campaignId", "campaignName",
			"campaignStatus", "campaignBudgetAmount", "impressions", "clicks", "cost", "purchases7d", "sales7d",
			"costPerClick", "clickThroughRate", "date"}},
		{ReportTypeID: ReportSPAdGroups, GroupBy: []string{"adGroup"}, TimeUnit: TimeUnitDaily, Columns: []string{
			"campaignId", "adGroupId", "adGroupName", "adStatus", "impressions", "cost", "date"}},
		{ReportTypeID: ReportSPCampaigns, GroupBy: []string{"campaign"}, TimeUnit: TimeUnitSummary, Columns: []string{
			"campaignId", "sales30d", "startDate", "endDate"}},
	}
	from, to := testDay, testDay.AddDate(0, 0, 2)
	for _, spec := range specs {
		t.Run(spec.ReportTypeID+"/"+spec.TimeUnit, func(t *testing.T) {
			want, err := ExpectedReport(cfg, Profiles(cfg), spec, from, to)
			if err != nil {
				t.Fatal(err)
			}
			var direct, roundTrip Summary
			for _, p := range Profiles(cfg) {
				if !p.Reportable() {
					continue
				}
				rows, err := ReportRows(cfg, p.ProfileID, spec, from, to)
				if err != nil {
					t.Fatal(err)
				}
				for r := range rows {
					direct.Add(r)
					b, _ := json.Marshal(r)
					var back map[string]any
					if err := json.Unmarshal(b, &back); err != nil {
						t.Fatal(err)
					}
					roundTrip.Add(back)
				}
			}
			if want.Rows == 0 || direct != want || roundTrip != want {
				t.Errorf("Expected %+v, rows %+v, after JSON %+v", want, direct, roundTrip)
			}
		})
	}
	if s, _ := Expected(cfg, Profiles(cfg), ReportSPCampaigns, []string{"date"}, testDay, testDay); s.Rows != 4*8 {
		t.Errorf("Expected over 4 reportable profiles x 8 campaigns = %d rows, want 32", s.Rows)
	}
}

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{`12" Pizza Stones`, "Küchenmesser", "tab\tnew\nline\\", "bad \xff utf8", ""} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q encoded as invalid JSON %s: %v", s, got, err)
			continue
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q round-trips as %q, want %q", s, back, wantBack)
		}
	}
	if !bytes.Equal(appendJSONString(nil, "a\"b"), []byte(`"a\"b"`)) {
		t.Error("quote not escaped")
	}
}
