// Package catalog_test runs the conformance suite over the catalog manifest (this folder
// is a manifest and dataset specs, run by providers/rest; it has no Go code of its own).
package catalog_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/conformance"
	"github.com/sluice-dev/sluice/services/extractor/providers"
	"github.com/sluice-dev/sluice/services/extractor/providers/rest"
	"github.com/sluice-dev/sluice/services/simulators/catalog/sim"
)

// TestConformance runs the provider conformance suite against a small catalog simulator.
func TestConformance(t *testing.T) {
	api, err := rest.LoadFolder(providers.Folders, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	scfg := sim.DefaultConfig()
	scfg.Hotels, scfg.KeyRate = 230, 200
	srv, err := sim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	day := time.Now().UTC().AddDate(0, 0, -1).Truncate(24 * time.Hour)
	conformance.Run(t, conformance.Case{
		Spec:   api.Spec(),
		API:    srv,
		Config: func(url string) any { return &rest.Config{BaseURL: url, Rate: 200, Burst: 5} },
		Env:    map[string]string{"SLUICE_CATALOG_API_KEYS": strings.Join(scfg.APIKeys, ",")},
		// Both runs of the suite must see the same data: ignore the incremental state.
		Trigger: provider.Trigger{Source: "cli", From: day, To: day, Params: map[string]string{rest.FullRefreshParam: "true"}},
	})
}
