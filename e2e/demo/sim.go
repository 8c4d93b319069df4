package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

// demoJob sizes the seed job: a month of daily campaign reports for every advertiser
// profile, under a shared quota, with the API's usual faults switched on.
type demoJob struct {
	profiles int
	days     int
	// quota is the simulator's global limit in calls per second over every replica, and
	// the rate the provider's governor is configured with.
	quota float64
}

// simConfig is the simulator the demo runs in its own process: reports ready in seconds
// instead of minutes, 429s beyond the quota (some without Retry-After), 5xx, timeouts and
// truncated downloads.
func (j demoJob) simConfig() sim.Config {
	c := sim.DefaultConfig()
	c.Seed = 42
	c.Profiles.Count, c.Profiles.AgencyShare = j.profiles, 0.1
	c.Data.CampaignsPerProfile, c.Data.AdGroupsPerCampaign = 8, 3
	c.Reports.LatencyMedian, c.Reports.LatencySigma, c.Reports.LatencyMax = 2*time.Second, 0.5, 8*time.Second
	c.Reports.StuckRate, c.Reports.FailureRate = 0.01, 0.01
	c.Reports.StuckFor = 5 * time.Second
	c.Reports.ExactFileSize = false
	c.Throttle = sim.ThrottleConfig{Global: sim.Limit{ClientRate: j.quota, ClientBurst: int(j.quota), NoRetryAfterRate: 0.3}}
	c.Faults.ServerErrorRate, c.Faults.TruncateRate = 0.02, 0.02
	c.Faults.TimeoutRate, c.Faults.TimeoutAfter = 0.005, 2*time.Second
	return c
}

// providerConfig routes every API call through one quota of j.quota (adaptive, as in
// production) and polls at the pace of the simulator's seconds-long reports.
func (j demoJob) providerConfig(api string) *amazonads.Config {
	c := amazonads.DefaultConfig()
	c.APIURL, c.TokenURL = api, api+"/auth/o2/token"
	c.ReportTypes = []string{amazonads.ReportSPCampaigns}
	c.Poll = amazonads.Poll{Initial: amazonads.Duration(time.Second), Max: amazonads.Duration(4 * time.Second), Multiplier: 1.5, Jitter: 0.5}
	c.Limits.Quotas = map[string]amazonads.Quota{
		"api":      {Rate: j.quota},
		"download": {Rate: 1000, Fixed: true},
	}
	c.Limits.Routes = map[string]string{
		amazonads.ClassToken: "api", amazonads.ClassProfiles: "api", amazonads.ClassCreate: "api",
		amazonads.ClassStatus: "api", amazonads.ClassDownload: "download",
	}
	c.Limits.DownloadConcurrency = 32
	return c
}

// window is the month the demo extracts: the days before today (UTC).
func (j demoJob) window() (from, to time.Time) {
	y, m, d := time.Now().UTC().Date()
	to = time.Date(y, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	return to.AddDate(0, 0, 1-j.days), to
}

// expectedRows is how many rows the month's reports hold, from the simulator's own data.
func (j demoJob) expectedRows(cfg sim.Config) (int64, error) {
	from, to := j.window()
	s, err := sim.Expected(cfg, sim.Profiles(cfg), amazonads.ReportSPCampaigns, amazonads.Columns(amazonads.ReportSPCampaigns), from, to)
	return s.Rows, err
}

// startSim serves the simulator on a loopback port until ctx ends.
func startSim(ctx context.Context, cfg sim.Config) (*sim.Server, string, error) {
	srv, err := sim.New(cfg, sim.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, "", fmt.Errorf("simulator: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	go func() {
		if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
			slog.Error("simulator stopped", "err", err)
		}
	}()
	return srv, "http://" + ln.Addr().String(), nil
}
