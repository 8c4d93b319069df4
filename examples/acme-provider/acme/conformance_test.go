package acme_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"example.com/acme-provider/acme"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/conformance"
)

// TestConformance runs sluice's provider conformance suite against a fake Acme API. It
// needs no servers: without a local nats-server, JetStream runs inside the test.
func TestConformance(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"readings":[{"meter":"m-1","hour":"%sT00:00:00Z","kwh":1.5}]}`, r.URL.Query().Get("date"))
	})
	day := time.Now().UTC().AddDate(0, 0, -2).Truncate(24 * time.Hour)
	conformance.Run(t, conformance.Case{
		Spec:    acme.Spec,
		API:     api,
		Config:  func(u string) any { c := acme.DefaultConfig(); c.BaseURL = u; return c },
		Trigger: provider.Trigger{Source: "cli", From: day, To: day.AddDate(0, 0, 1)},
	})
}
