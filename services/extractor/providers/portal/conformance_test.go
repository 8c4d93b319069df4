package portal_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/conformance"
	"github.com/sluice-dev/sluice/services/extractor/providers/portal"
	"github.com/sluice-dev/sluice/services/simulators/portal/sim"
)

// TestConformance runs the provider conformance suite against one simulated portal.
func TestConformance(t *testing.T) {
	scfg := sim.DefaultConfig()
	scfg.Portals = scfg.Portals[:1]
	srv, err := sim.New(scfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := scfg.Portals[0]
	day := func(n int) time.Time { return time.Now().UTC().AddDate(0, 0, -n).Truncate(24 * time.Hour) }
	conformance.Run(t, conformance.Case{
		Spec: portal.Spec,
		// The suite serves one address: route it to the portal as its Host would.
		API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { r.Host = p.Host; srv.ServeHTTP(w, r) }),
		Config: func(api string) any {
			c := portal.DefaultConfig()
			c.Portals = []portal.Portal{{URL: api, User: p.User, PasswordEnv: "SLUICE_PORTAL_A_PASSWORD"}}
			return c
		},
		Env:     map[string]string{"SLUICE_PORTAL_A_PASSWORD": p.Password},
		Trigger: provider.Trigger{Source: "cli", From: day(2), To: day(1)},
	})
}
