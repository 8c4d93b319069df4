package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/extractor/trigger"
	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

var both = []string{amazonads.ReportSPCampaigns, amazonads.ReportSPAdGroups}

// TestStagesExactRows: a CLI run over two report windows stages exactly the rows the
// simulator generated (checksum recomputed from the staged payloads), requesting each
// report once.
func TestStagesExactRows(t *testing.T) {
	scfg := quickSim(5)
	e := newEnv(t, scfg)
	e.staging()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testinfra.FreePort(t))
	e.extractor("extractor-1", e.providerConfig(), "--http-addr", metricsAddr)
	from, to := day(-40), day(-2) // 31 + 8 days: two windows
	e.plan("exact", from, to)
	e.waitStaged(2*time.Minute, from, to, both...)
	if got, want := e.sim.Stats().ReportsCreated, int64(reportable(scfg)*2*2); got != want {
		t.Errorf("reports created = %d, want %d (profiles × report types × windows)", got, want)
	}

	// The per-provider metrics an operator watches are exported (utilisation from the
	// second scrape on; 429s once there was one).
	var body []byte
	for range 2 {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		time.Sleep(time.Second)
	}
	for _, name := range []string{
		"sluice_apiclient_requests",     // requests by status
		"sluice_ratelimit_rate",         // current allowed rate
		"sluice_ratelimit_utilization",  // quota utilisation
		"sluice_extract_jobs",           // jobs by status
		"sluice_extract_download_bytes", // bytes downloaded
		`status="DONE"`,
	} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
}

// TestReplicasShareQuota: three replicas configured with the simulator's quota together
// stay within it: the simulator never throttles and never sees more calls in a second
// than the quota allows.
func TestReplicasShareQuota(t *testing.T) {
	const quota = 20.0
	scfg := quickSim(12)
	scfg.Throttle.Global = sim.Limit{ClientRate: quota, ClientBurst: 2}
	e := newEnv(t, scfg)
	e.staging()
	c := e.providerConfig()
	c.Limits.Quotas = map[string]amazonads.Quota{"api": {Rate: quota}, "download": {Rate: 100, Fixed: true}}
	for _, class := range []string{amazonads.ClassToken, amazonads.ClassProfiles, amazonads.ClassCreate, amazonads.ClassStatus} {
		c.Limits.Routes[class] = "api"
	}
	c.Limits.Routes[amazonads.ClassDownload] = "download"
	for _, n := range []string{"extractor-1", "extractor-2", "extractor-3"} {
		e.extractor(n, c)
	}
	from, to := day(-3), day(-2)
	e.plan("quota", from, to)
	e.waitStaged(3*time.Minute, from, to, both...)
	st := e.sim.Stats()
	api := st.Rates[sim.KeyAPI]
	t.Logf("api calls %d, max in any 1 s window %d, 429s %d", api.Requests, api.MaxInWindow, st.Throttled)
	if st.Throttled != 0 {
		t.Errorf("the simulator throttled %d calls: the replicas exceeded the shared quota", st.Throttled)
	}
	if api.MaxInWindow > int64(quota)+1 {
		t.Errorf("%d calls in one second, quota %v/s", api.MaxInWindow, quota)
	}
	if api.Requests < 40 {
		t.Errorf("only %d API calls: the test did not load the quota", api.Requests)
	}
}

// TestKillAndRestart: an extractor killed with SIGKILL while reports are generating and
// started again resumes them: no report is requested twice and no row is lost.
func TestKillAndRestart(t *testing.T) {
	scfg := quickSim(6)
	// Real reports take minutes; a takeover takes seconds (ack wait + claim TTL), so a
	// request cut between the API's answer and its record meets the API's 425 and reuses
	// the report. Latency here keeps that order at a test's scale, with room for a loaded
	// machine (a takeover took 14 s on one).
	scfg.Reports.LatencyMedian, scfg.Reports.LatencyMax = 20*time.Second, 25*time.Second
	e := newEnv(t, scfg)
	e.staging()
	c := e.providerConfig()
	first := e.extractor("killed-extractor", c, "--job-claim-ttl", "3s")
	from, to := day(-40), day(-2)
	e.plan("kill", from, to)
	tasks := int64(reportable(scfg) * 2 * 2)
	deadline := time.Now().Add(time.Minute)
	for e.sim.Stats().ReportsCreated < tasks/2 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d reports requested after a minute", e.sim.Stats().ReportsCreated)
		}
		time.Sleep(20 * time.Millisecond)
	}
	first.Kill()
	killedAt := e.sim.Stats().ReportsCreated
	e.extractor("extractor-restarted", c, "--job-claim-ttl", "3s")
	e.waitStaged(2*time.Minute, from, to, both...)
	st := e.sim.Stats()
	t.Logf("reports created before the kill %d, in all %d; 425 duplicates %d", killedAt, st.ReportsCreated, st.Duplicates)
	if st.ReportsCreated != tasks {
		t.Errorf("reports created = %d, want %d: a report was requested twice", st.ReportsCreated, tasks)
	}
}

// TestRidesOutThrottlingAndServerErrors: limits configured at 4× what the simulator
// allows, 429s mostly without Retry-After, and 15% server errors: every row arrives.
func TestRidesOutThrottlingAndServerErrors(t *testing.T) {
	scfg := quickSim(6)
	scfg.Throttle.Create = sim.Limit{ClientRate: 2, ClientBurst: 1, NoRetryAfterRate: 1}
	scfg.Throttle.Status = sim.Limit{ClientRate: 5, ClientBurst: 1, NoRetryAfterRate: 0.5}
	scfg.Faults.ServerErrorRate, scfg.Faults.Endpoints = 0.15, []string{sim.ClassCreate, sim.ClassStatus, sim.ClassProfiles}
	e := newEnv(t, scfg)
	e.staging()
	c := e.providerConfig()
	c.Limits.Quotas[amazonads.ClassCreate] = amazonads.Quota{Rate: 8}
	c.Limits.Quotas[amazonads.ClassStatus] = amazonads.Quota{Rate: 20}
	e.extractor("extractor-1", c)
	e.extractor("extractor-2", c)
	from, to := day(-40), day(-2)
	e.plan("storm", from, to)
	e.waitStaged(3*time.Minute, from, to, both...)
	st := e.sim.Stats()
	t.Logf("429s %d (%d without Retry-After), 5xx %d, reports %d", st.Throttled, st.ThrottledWithoutRetryAfter, st.ServerErrors, st.ReportsCreated)
	if st.Throttled == 0 || st.ThrottledWithoutRetryAfter == 0 || st.ServerErrors == 0 {
		t.Errorf("the storm did not happen: %d 429s, %d without Retry-After, %d 5xx", st.Throttled, st.ThrottledWithoutRetryAfter, st.ServerErrors)
	}
	if want := int64(reportable(scfg) * 2 * 2); st.ReportsCreated != want {
		t.Errorf("reports created = %d, want %d", st.ReportsCreated, want)
	}
}

// TestDownloadFaults: gzip bombs and truncated files are refused with a clear error and
// downloaded again; the extractor does not crash and every row arrives.
func TestDownloadFaults(t *testing.T) {
	scfg := quickSim(5)
	scfg.Faults.Endpoints = []string{sim.ClassDownload}
	scfg.Faults.BombRate, scfg.Faults.BombBytes = 0.25, 256<<20
	scfg.Faults.TruncateRate = 0.25
	e := newEnv(t, scfg)
	e.staging()
	c := e.providerConfig()
	c.MaxDownloadAttempts = 8
	c.Download.MaxRatio, c.Download.RatioFloor = 100, 1<<20
	x := e.extractor("extractor-1", c)
	from, to := day(-40), day(-2)
	e.plan("faults", from, to)
	e.waitStaged(2*time.Minute, from, to, both...)
	st := e.sim.Stats()
	t.Logf("faults %v", st.Faults)
	if st.Faults[sim.FaultBomb] == 0 || st.Faults[sim.FaultTruncated] == 0 {
		t.Fatalf("faults not injected: %v", st.Faults)
	}
	if exited, err := x.Exited(); exited {
		t.Fatalf("extractor exited: %v", err)
	}
	log := x.Tail(1 << 20)
	for _, want := range []string{"gzip bomb", "truncated or corrupt gzip stream"} {
		if !strings.Contains(log, want) {
			t.Errorf("extractor log does not mention %q", want)
		}
	}
}

// TestEventSentBeforeExtractorStarts: an event sent while no extractor of the provider
// runs (scaled to zero, rolling out) waits in EVENTS; the extractor started afterwards
// plans it and stages exactly the rows of its window.
func TestEventSentBeforeExtractorStarts(t *testing.T) {
	scfg := quickSim(3)
	e := newEnv(t, scfg)
	e.staging()
	from, to := day(-3), day(-2)
	if _, err := trigger.PublishEvent(context.Background(), e.js, "amazonads", "window.closed",
		trigger.Event{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly)}, ""); err != nil {
		t.Fatal(err)
	}
	c := e.providerConfig()
	c.LookbackDays = 2 // event runs reach back LookbackDays from To: exactly from..to here
	e.extractor("extractor-1", c)
	e.waitStaged(2*time.Minute, from, to, both...)
}
