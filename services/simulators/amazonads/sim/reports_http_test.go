package sim_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

var adGroupSpec = sim.ReportSpec{ReportTypeID: sim.ReportSPAdGroups, GroupBy: []string{"adGroup"},
	TimeUnit: sim.TimeUnitDaily, Columns: []string{"campaignId", "campaignName", "campaignStatus",
		"campaignBudgetAmount", "adGroupId", "adGroupName", "adStatus", "impressions", "clicks", "cost",
		"purchases7d", "sales7d", "date"}}

// TestReportFlow runs create → poll → download for every reportable profile
// and checks the loaded rows against sim.Expected.
func TestReportFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	from, to := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC)
	body := createBody(adGroupSpec, "2024-06-01", "2024-06-03")

	resp, b := h.call(http.MethodGet, "/v2/profiles", 0, "")
	var listed []sim.Profile
	if err := json.Unmarshal(b, &listed); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("profiles: %d %s", resp.StatusCode, b)
	}
	if len(listed) != h.cfg.Profiles.Count {
		t.Fatalf("%d profiles listed, want %d", len(listed), h.cfg.Profiles.Count)
	}

	var loaded sim.Summary
	for _, p := range h.reportables() {
		status, created, raw := h.create(p.ProfileID, body)
		if status != http.StatusOK {
			t.Fatalf("create for %d: %d %s", p.ProfileID, status, raw)
		}
		if created.Status != sim.StatusPending || created.URL != nil || created.FileSize != nil ||
			created.FailureReason != nil || created.Configuration.ReportTypeID != sim.ReportSPAdGroups ||
			!slices.Equal(created.Configuration.Columns, adGroupSpec.Columns) {
			t.Fatalf("create response %s", raw)
		}
		for _, null := range []string{`"url":null`, `"urlExpiresAt":null`, `"fileSize":null`, `"failureReason":null`} {
			if !strings.Contains(string(raw), null) {
				t.Errorf("create response lacks %s: %s", null, raw)
			}
		}
		done, seen := h.await(p.ProfileID, created.ReportID)
		if done.Status != sim.StatusCompleted || seen[0] != sim.StatusPending || done.URL == nil ||
			done.URLExpiresAt == nil || done.FileSize == nil || done.GeneratedAt == nil {
			t.Fatalf("report %+v after statuses %v", done, seen)
		}
		resp, file := h.download(*done.URL)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("download: %d %s", resp.StatusCode, file)
		}
		if int64(len(file)) != *done.FileSize || resp.ContentLength != *done.FileSize {
			t.Errorf("file is %d bytes (Content-Length %d), fileSize says %d", len(file), resp.ContentLength, *done.FileSize)
		}
		var one sim.Summary
		for _, row := range decodeRows(t, file) {
			if len(row) != len(adGroupSpec.Columns) {
				t.Fatalf("row has %d keys, want %d: %v", len(row), len(adGroupSpec.Columns), row)
			}
			one.Add(row)
		}
		want, err := sim.ExpectedReport(h.cfg, []sim.Profile{p}, adGroupSpec, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if one != want {
			t.Errorf("profile %d: loaded %+v, expected %+v", p.ProfileID, one, want)
		}
		loaded.Merge(one)
	}
	// Expected over all profiles skips the agency one by itself.
	want, err := sim.Expected(h.cfg, listed, sim.ReportSPAdGroups, adGroupSpec.Columns, from, to)
	if err != nil {
		t.Fatal(err)
	}
	perDay := int64(h.cfg.Data.CampaignsPerProfile * h.cfg.Data.AdGroupsPerCampaign)
	if loaded != want || want.Rows != int64(len(h.reportables()))*3*perDay {
		t.Errorf("loaded %+v, expected %+v", loaded, want)
	}
	if st := h.srv.Stats(); st.ReportsCreated != int64(len(h.reportables())) || st.Requests[sim.ClassDownload]["200"] != st.ReportsCreated {
		t.Errorf("stats %+v", st)
	}
}

func TestDuplicateReport(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	p := h.reportables()[0]
	body := createBody(adGroupSpec, "2024-06-01", "2024-06-01")
	status, first, raw := h.create(p.ProfileID, body)
	if status != http.StatusOK {
		t.Fatalf("create: %d %s", status, raw)
	}
	// Same parameters with another name and column order: still a duplicate.
	var req map[string]any
	json.Unmarshal([]byte(body), &req)
	req["name"] = "another name"
	cols := req["configuration"].(map[string]any)["columns"].([]any)
	slices.Reverse(cols)
	again, _ := json.Marshal(req)

	status, _, raw = h.create(p.ProfileID, string(again))
	if status != http.StatusTooEarly {
		t.Fatalf("duplicate create: %d %s, want 425", status, raw)
	}
	var e struct{ Code, Detail, Message string }
	json.Unmarshal(raw, &e)
	want := "duplicate of : " + first.ReportID
	if !strings.Contains(e.Detail, want) || !strings.Contains(e.Message, want) || e.Code != "425" {
		t.Errorf("425 body %s, want detail and message naming %s", raw, first.ReportID)
	}
	// Another profile is not a duplicate.
	if status, _, raw := h.create(h.reportables()[1].ProfileID, body); status != http.StatusOK {
		t.Errorf("same request for another profile: %d %s", status, raw)
	}
	h.await(p.ProfileID, first.ReportID)
	status, second, raw := h.create(p.ProfileID, body)
	if status != http.StatusOK || second.ReportID == first.ReportID {
		t.Errorf("create after completion: %d %s", status, raw)
	}
	if d := h.srv.Stats().Duplicates; d != 1 {
		t.Errorf("counted %d duplicates, want 1", d)
	}
}

func TestExpiredURL(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *sim.Config) { c.Reports.URLTTL = time.Minute })
	p := h.reportables()[0]
	_, rep, _ := h.create(p.ProfileID, createBody(adGroupSpec, "2024-06-01", "2024-06-01"))
	done, _ := h.await(p.ProfileID, rep.ReportID)
	if again := h.status(p.ProfileID, rep.ReportID); *again.URL != *done.URL {
		t.Error("url changed before it expired")
	}

	h.clock.Advance(61 * time.Second)
	resp, body := h.download(*done.URL)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Message>Request has expired</Message>") ||
		!strings.Contains(string(body), "<Code>AccessDenied</Code>") {
		t.Fatalf("expired url: %d %s", resp.StatusCode, body)
	}
	fresh := h.status(p.ProfileID, rep.ReportID)
	if *fresh.URL == *done.URL {
		t.Fatal("status after expiry returned the expired url")
	}
	if resp, body := h.download(*fresh.URL); resp.StatusCode != http.StatusOK || len(decodeRows(t, body)) != 24 {
		t.Fatalf("fresh url: %d", resp.StatusCode)
	}
	tampered := strings.Replace(*fresh.URL, "expires=", "expires=9", 1)
	if resp, body := h.download(tampered); resp.StatusCode != http.StatusForbidden ||
		!strings.Contains(string(body), "SignatureDoesNotMatch") {
		t.Errorf("tampered url: %d %s", resp.StatusCode, body)
	}
	if n := h.srv.Stats().ExpiredURLs; n != 1 {
		t.Errorf("counted %d expired urls, want 1", n)
	}
}

func TestFailedReport(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *sim.Config) { c.Reports.FailureRate = 1 })
	p := h.reportables()[0]
	_, rep, _ := h.create(p.ProfileID, createBody(adGroupSpec, "2024-06-01", "2024-06-01"))
	done, _ := h.await(p.ProfileID, rep.ReportID)
	if done.Status != sim.StatusFailed || done.FailureReason == nil || done.URL != nil {
		t.Errorf("failed report %+v", done)
	}
}

func TestSummaryReportAndLargeFile(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *sim.Config) { c.Data.CampaignsPerProfile, c.Data.AdGroupsPerCampaign = 400, 5 })
	p := h.reportables()[0]
	specs := []sim.ReportSpec{
		{ReportTypeID: sim.ReportSPCampaigns, GroupBy: []string{"campaign", "adGroup"}, TimeUnit: sim.TimeUnitSummary,
			Columns: []string{"campaignId", "adGroupId", "startDate", "endDate", "clicks", "cost", "clickThroughRate"},
			Filters: []sim.Filter{{Field: "campaignStatus", Values: []string{"ENABLED", "PAUSED"}}}},
		adGroupSpec, // 400*5*2 = 4000 rows
	}
	from, to := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC)
	for _, spec := range specs {
		status, rep, raw := h.create(p.ProfileID, createBody(spec, "2024-06-01", "2024-06-02"))
		if status != http.StatusOK {
			t.Fatalf("create: %d %s", status, raw)
		}
		done, _ := h.await(p.ProfileID, rep.ReportID)
		_, file := h.download(*done.URL)
		var got sim.Summary
		for _, r := range decodeRows(t, file) {
			got.Add(r)
		}
		want, _ := sim.ExpectedReport(h.cfg, []sim.Profile{p}, spec, from, to)
		if got != want || got.Rows == 0 {
			t.Errorf("%s/%s: loaded %+v, expected %+v", spec.ReportTypeID, spec.TimeUnit, got, want)
		}
	}
}

func TestCreateAndStatusErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	p := h.reportables()[0]
	var agency sim.Profile
	for _, q := range h.srv.Profiles() {
		if !q.Reportable() {
			agency = q
		}
	}
	valid := createBody(adGroupSpec, "2024-06-01", "2024-06-01")
	_, rep, _ := h.create(p.ProfileID, valid)

	tests := []struct {
		name        string
		method      string
		path        string
		scope       string
		contentType string
		body        string
		wantStatus  int
		wantDetail  string
	}{
		{"missing scope", "POST", "/reporting/reports", "", sim.CreateReportContentType, valid, 400, "Scope"},
		{"non-numeric scope", "POST", "/reporting/reports", "abc", sim.CreateReportContentType, valid, 400, "not a profile id"},
		{"unknown scope", "POST", "/reporting/reports", "123", sim.CreateReportContentType, valid, 401, "Not authorized to access scope 123"},
		{"agency profile", "POST", "/reporting/reports", fmtInt(agency.ProfileID), sim.CreateReportContentType, valid, 400, "agency"},
		{"json content type", "POST", "/reporting/reports", fmtInt(p.ProfileID), "application/json", valid, 415, sim.CreateReportContentType},
		{"invalid body", "POST", "/reporting/reports", fmtInt(p.ProfileID), sim.CreateReportContentType,
			strings.Replace(valid, `"2024-06-01"`, `"2024-13-01"`, 1), 400, "startDate"},
		{"unknown report", "GET", "/reporting/reports/nope", fmtInt(p.ProfileID), "", "", 404, "not found"},
		{"report of another profile", "GET", "/reporting/reports/" + rep.ReportID, fmtInt(h.reportables()[1].ProfileID), "", "", 404, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, h.ts.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set(sim.HeaderClientID, h.cred.ClientID)
			req.Header.Set("Authorization", "Bearer "+h.token)
			if tt.scope != "" {
				req.Header.Set(sim.HeaderScope, tt.scope)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, body := h.do(req)
			var e struct{ Code, Detail, Message string }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %s: %v", body, err)
			}
			if resp.StatusCode != tt.wantStatus || !strings.Contains(e.Detail, tt.wantDetail) || e.Message != e.Detail {
				t.Errorf("got %d %s, want %d with detail mentioning %q", resp.StatusCode, body, tt.wantStatus, tt.wantDetail)
			}
		})
	}
}

func TestStatsEndpointAndReset(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.call(http.MethodGet, "/v2/profiles", 0, "")
	resp, body := h.download(h.ts.URL + "/_sim/stats")
	var st sim.Stats
	if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stats: %d %s", resp.StatusCode, body)
	}
	if st.Count(sim.ClassProfiles, 200) != 1 || st.Count(sim.ClassToken, 200) != 1 || st.Rates[sim.KeyAPI].Requests != 1 {
		t.Errorf("stats %s", body)
	}
	req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/_sim/reset", nil)
	if resp, _ := h.do(req); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	if st := h.srv.Stats(); len(st.Requests) != 0 || len(st.Rates) != 0 {
		t.Errorf("stats after reset %+v", st)
	}
	if id := strconv.Itoa(h.srv.ReportCount()); id != "0" {
		t.Errorf("report count %s", id)
	}
}

func TestReportAccessor(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	p := h.reportables()[0]
	_, rep, _ := h.create(p.ProfileID, createBody(adGroupSpec, "2024-06-01", "2024-06-01"))
	got, ok := h.srv.Report(rep.ReportID)
	if !ok || got.Status != sim.StatusPending || got.ProfileID != p.ProfileID || got.URL != nil {
		t.Fatalf("Report() = %+v, %v", got, ok)
	}
	done, _ := h.await(p.ProfileID, rep.ReportID)
	if got, _ := h.srv.Report(rep.ReportID); got.Status != sim.StatusCompleted || got.URL == nil || *got.URL != *done.URL {
		t.Errorf("Report() after completion = %+v", got)
	}
	if _, ok := h.srv.Report("nope"); ok {
		t.Error("Report() found an unknown id")
	}
}

func TestUnasked(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ps := h.reportables()
	_, asked, _ := h.create(ps[0].ProfileID, createBody(adGroupSpec, "2024-06-01", "2024-06-01"))
	_, lost, _ := h.create(ps[1].ProfileID, createBody(adGroupSpec, "2024-06-01", "2024-06-01"))
	if got := h.srv.Unasked(); len(got) != 2 {
		t.Fatalf("Unasked() before any status call = %+v, want both reports", got)
	}
	h.status(ps[0].ProfileID, asked.ReportID)
	// A status call for another profile's report is a 404 and does not count.
	h.call(http.MethodGet, "/reporting/reports/"+lost.ReportID, ps[0].ProfileID, "")
	got := h.srv.Unasked()
	if len(got) != 1 || got[0].ReportID != lost.ReportID || got[0].ProfileID != ps[1].ProfileID || got[0].CreatedAt.IsZero() {
		t.Errorf("Unasked() = %+v, want only %s of profile %d", got, lost.ReportID, ps[1].ProfileID)
	}
}
