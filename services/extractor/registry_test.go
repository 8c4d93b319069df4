package main

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/conformance"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/extractor/providers/portal"
	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
	portalsim "github.com/sluice-dev/sluice/services/simulators/portal/sim"
)

// conformanceCases gives every registered provider a fake API and a run to exercise.
// A provider added to the registry without a case fails TestProvidersConformance.
var conformanceCases = map[string]func(t *testing.T) conformance.Case{
	"demo": func(*testing.T) conformance.Case {
		return conformance.Case{Trigger: provider.Trigger{Source: "cli", From: daysAgo(1), To: daysAgo(1)}}
	},
	"amazonads": func(t *testing.T) conformance.Case {
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
		return conformance.Case{
			API: http.Handler(srv),
			Config: func(api string) any {
				c := amazonads.DefaultConfig()
				c.APIURL, c.TokenURL = api, api+"/auth/o2/token"
				c.Poll = amazonads.Poll{Initial: amazonads.Duration(10 * time.Millisecond), Max: amazonads.Duration(50 * time.Millisecond), Multiplier: 1.5, Jitter: 0.5}
				return c
			},
			Env:     map[string]string{amazonads.EnvClientID: cred.ClientID, amazonads.EnvClientSecret: cred.ClientSecret, amazonads.EnvRefreshToken: cred.RefreshToken},
			Trigger: provider.Trigger{Source: "cli", From: daysAgo(3), To: daysAgo(2)},
		}
	},
	"portal": func(t *testing.T) conformance.Case {
		scfg := portalsim.DefaultConfig()
		scfg.Portals = scfg.Portals[:1]
		srv, err := portalsim.New(scfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := scfg.Portals[0]
		return conformance.Case{
			// The suite serves one address: route it to the portal as its Host would.
			API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { r.Host = p.Host; srv.ServeHTTP(w, r) }),
			Config: func(api string) any {
				c := portal.DefaultConfig()
				c.Portals = []portal.Portal{{URL: api, User: p.User, PasswordEnv: "SLUICE_PORTAL_A_PASSWORD"}}
				return c
			},
			Env:     map[string]string{"SLUICE_PORTAL_A_PASSWORD": p.Password},
			Trigger: provider.Trigger{Source: "cli", From: daysAgo(2), To: daysAgo(1)},
		}
	},
}

// TestProvidersConformance runs the conformance suite over every registered provider.
func TestProvidersConformance(t *testing.T) {
	for _, sp := range providers {
		t.Run(sp.Name, func(t *testing.T) {
			mk, ok := conformanceCases[sp.Name]
			if !ok {
				t.Fatalf("provider %s has no conformance case in registry_test.go", sp.Name)
			}
			c := mk(t)
			c.Spec = sp
			conformance.Run(t, c)
		})
	}
}

func TestRegistryNames(t *testing.T) {
	seen := map[string]bool{}
	for _, sp := range providers {
		if sp.Name == "" || sp.New == nil || sp.NewConfig == nil || seen[sp.Name] {
			t.Errorf("registry entry %q: needs a unique name, New and NewConfig", sp.Name)
		}
		seen[sp.Name] = true
	}
}

func daysAgo(n int) time.Time {
	y, m, d := time.Now().UTC().AddDate(0, 0, -n).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
