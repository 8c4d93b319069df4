package sim_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

// t0 is the manual clock's start; report dates in tests are before it.
var t0 = time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC)

// testConfig is DefaultConfig with second-scale reports, no stuck or failed
// reports and no throttling; tests turn on what they exercise.
func testConfig() sim.Config {
	cfg := sim.DefaultConfig()
	cfg.Reports.LatencyMedian = 2 * time.Second
	cfg.Reports.LatencySigma = 0.5
	cfg.Reports.LatencyMax = 10 * time.Second
	cfg.Reports.StuckRate = 0
	cfg.Reports.FailureRate = 0
	cfg.Throttle = sim.ThrottleConfig{}
	return cfg
}

// harness is a simulator behind httptest with a manual clock and an API
// client holding a valid token.
type harness struct {
	t     *testing.T
	cfg   sim.Config
	srv   *sim.Server
	ts    *httptest.Server
	clock *sim.ManualClock
	cred  sim.Credentials
	token string
}

func newHarness(t *testing.T, edit func(*sim.Config)) *harness {
	t.Helper()
	cfg := testConfig()
	if edit != nil {
		edit(&cfg)
	}
	clock := sim.NewManualClock(t0)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := sim.New(cfg, sim.WithClock(clock), sim.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close() // release injected hangs first
		ts.Close()
	})
	h := &harness{t: t, cfg: cfg, srv: srv, ts: ts, clock: clock, cred: cfg.Auth.Clients[0]}
	h.token = h.fetchToken()
	return h
}

// tokenRequest posts a refresh-token grant with the given form values.
func (h *harness) tokenRequest(form url.Values) (int, map[string]any) {
	h.t.Helper()
	resp, err := h.ts.Client().PostForm(h.ts.URL+"/auth/o2/token", form)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		h.t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, body
}

func (h *harness) tokenForm() url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {h.cred.RefreshToken},
		"client_id": {h.cred.ClientID}, "client_secret": {h.cred.ClientSecret}}
}

func (h *harness) fetchToken() string {
	h.t.Helper()
	status, body := h.tokenRequest(h.tokenForm())
	if status != http.StatusOK {
		h.t.Fatalf("token: %d %v", status, body)
	}
	return body["access_token"].(string)
}

// call makes an API call with the client id, the harness token and, when
// profileID is not 0, the profile scope.
func (h *harness) call(method, path string, profileID int64, body string) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.ts.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set(sim.HeaderClientID, h.cred.ClientID)
	req.Header.Set("Authorization", "Bearer "+h.token)
	if profileID != 0 {
		req.Header.Set(sim.HeaderScope, fmtInt(profileID))
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", sim.CreateReportContentType)
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) (*http.Response, []byte) {
	h.t.Helper()
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read %s: %v", req.URL.Path, err)
	}
	return resp, b
}

func fmtInt(i int64) string { return strconv.FormatInt(i, 10) }

// reportables returns the profiles reports can be requested for.
func (h *harness) reportables() []sim.Profile {
	var out []sim.Profile
	for _, p := range h.srv.Profiles() {
		if p.Reportable() {
			out = append(out, p)
		}
	}
	return out
}

// createBody renders a create request for spec over from..to.
func createBody(spec sim.ReportSpec, from, to string) string {
	adProduct := sim.AdSponsoredProducts
	b, _ := json.Marshal(sim.CreateReportRequest{Name: "test", StartDate: from, EndDate: to,
		Configuration: &sim.ReportConfiguration{AdProduct: adProduct, ReportTypeID: spec.ReportTypeID,
			GroupBy: spec.GroupBy, Columns: spec.Columns, TimeUnit: spec.TimeUnit, Format: sim.FormatGzipJSON,
			Filters: spec.Filters}})
	return string(b)
}

// create requests a report and returns the response status and report.
func (h *harness) create(profileID int64, body string) (int, sim.Report, []byte) {
	h.t.Helper()
	resp, b := h.call(http.MethodPost, "/reporting/reports", profileID, body)
	var r sim.Report
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &r); err != nil {
			h.t.Fatalf("create response %s: %v", b, err)
		}
	}
	return resp.StatusCode, r, b
}

func (h *harness) status(profileID int64, id string) sim.Report {
	h.t.Helper()
	resp, b := h.call(http.MethodGet, "/reporting/reports/"+id, profileID, "")
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("status of %s: %d %s", id, resp.StatusCode, b)
	}
	var r sim.Report
	if err := json.Unmarshal(b, &r); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// await polls the report, advancing the clock a second between polls,
// until it is finished, and returns the statuses seen.
func (h *harness) await(profileID int64, id string) (sim.Report, []string) {
	h.t.Helper()
	var seen []string
	for range 1000 {
		r := h.status(profileID, id)
		if len(seen) == 0 || seen[len(seen)-1] != r.Status {
			seen = append(seen, r.Status)
		}
		if r.Status == sim.StatusCompleted || r.Status == sim.StatusFailed {
			return r, seen
		}
		h.clock.Advance(time.Second)
	}
	h.t.Fatalf("report %s never finished: %v", id, seen)
	return sim.Report{}, nil
}

// download fetches a url without API headers, like a pre-signed S3 GET.
func (h *harness) download(u string) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

// decodeRows gunzips a report file and decodes its rows the way a loader
// would (numbers as json.Number).
func decodeRows(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	dec := json.NewDecoder(zr)
	dec.UseNumber()
	var rows []map[string]any
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("decode rows: %v", err)
	}
	return rows
}
