package amazonads_test

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/conformance"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

// TestConformance runs the provider conformance suite against a small simulator.
func TestConformance(t *testing.T) {
	scfg := sim.DefaultConfig()
	scfg.Profiles.Count, scfg.Profiles.AgencyShare = 3, 0.34
	scfg.Data.CampaignsPerProfile, scfg.Data.AdGroupsPerCampaign = 2, 2
	scfg.Reports.LatencyMedian, scfg.Reports.LatencyMax = 20*time.Millisecond, 100*time.Millisecond
	scfg.Reports.StuckRate, scfg.Reports.FailureRate = 0, 0
	srv, err := sim.New(scfg, sim.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cred := scfg.Auth.Clients[0]
	day := func(n int) time.Time { return time.Now().UTC().AddDate(0, 0, -n).Truncate(24 * time.Hour) }
	conformance.Run(t, conformance.Case{
		Spec: amazonads.Spec,
		API:  http.Handler(srv),
		Config: func(api string) any {
			c := amazonads.DefaultConfig()
			c.APIURL, c.TokenURL = api, api+"/auth/o2/token"
			c.Poll = amazonads.Poll{Initial: amazonads.Duration(10 * time.Millisecond), Max: amazonads.Duration(50 * time.Millisecond), Multiplier: 1.5, Jitter: 0.5}
			return c
		},
		Env:     map[string]string{amazonads.EnvClientID: cred.ClientID, amazonads.EnvClientSecret: cred.ClientSecret, amazonads.EnvRefreshToken: cred.RefreshToken},
		Trigger: provider.Trigger{Source: "cli", From: day(3), To: day(2)},
	})
}
