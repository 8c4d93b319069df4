package main

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/conformance"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/extractor/providers/rest"
	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
	catalogsim "github.com/sluice-dev/sluice/services/simulators/catalog/sim"
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
	"catalog": func(t *testing.T) conformance.Case {
		scfg := catalogsim.DefaultConfig()
		scfg.Hotels, scfg.KeyRate = 230, 200
		srv, err := catalogsim.New(scfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		return conformance.Case{
			API:    srv,
			Config: func(api string) any { return &rest.Config{BaseURL: api, Rate: 200, Burst: 5} },
			Env:    map[string]string{"SLUICE_CATALOG_API_KEYS": strings.Join(scfg.APIKeys, ",")},
			// Both runs of the suite must see the same data: ignore the incremental state.
			Trigger: provider.Trigger{Source: "cli", From: daysAgo(1), To: daysAgo(1), Params: map[string]string{rest.FullRefreshParam: "true"}},
		}
	},
}

// TestProvidersConformance runs the conformance suite over every registered provider.
func TestProvidersConformance(t *testing.T) {
	for _, sp := range providerList {
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
	if manifestErr != nil {
		t.Fatalf("provider manifests: %v", manifestErr)
	}
	seen := map[string]bool{}
	for _, sp := range providerList {
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
