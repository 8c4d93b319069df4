package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/conformance"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects"
	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
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
	"s3objects": func(t *testing.T) conformance.Case {
		// The real S3 server behind the suite's guard: every S3 call must go through
		// the governed client to reach it.
		infra := testinfra.Require(t, testinfra.S3)
		bucket := fmt.Sprintf("conf-s3objects-%d", time.Now().UnixNano()%1e9)
		store, err := blob.New(blob.Config{Endpoint: infra.S3Endpoint, Region: infra.S3Region, Bucket: bucket, AccessKey: infra.S3AccessKey, SecretKey: infra.S3SecretKey, PartSize: 5 << 20, Concurrency: 1})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := store.EnsureBucket(ctx); err != nil {
			t.Fatal(err)
		}
		for key, body := range map[string]string{"in/orders/a.ndjson": `{"id":1}` + "\n", "in/orders/b.ndjson": `{"id":2}` + "\n", "in/other/c.txt": "x"} {
			if _, err := store.Put(ctx, key, "application/x-ndjson", strings.NewReader(body)); err != nil {
				t.Fatal(err)
			}
		}
		target, err := url.Parse(infra.S3Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		spec := `{"provider":"s3objects","dataset":"orders","version":1,"table":"conf_orders","format":{"type":"ndjson"},
			"columns":[{"name":"id","type":"bigint","expr":"row.id"}],"primary_key":["id"]}`
		return conformance.Case{
			API: httputil.NewSingleHostReverseProxy(target),
			Config: func(api string) any {
				c := s3objects.DefaultConfig()
				c.Source = s3objects.Bucket{Endpoint: api, Region: infra.S3Region, Bucket: bucket, Prefix: "in/"}
				c.Datasets = []s3objects.Dataset{{Prefix: "orders/", Spec: json.RawMessage(spec)}}
				return c
			},
			Env:     map[string]string{"SLUICE_S3_ACCESS_KEY": infra.S3AccessKey, "SLUICE_S3_SECRET_KEY": infra.S3SecretKey},
			Trigger: provider.Trigger{Source: "cli", From: daysAgo(1), To: daysAgo(1)},
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
