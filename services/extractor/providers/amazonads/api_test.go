package amazonads

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/jobs"
	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

// TestDuplicateRequestReusesReport: when an identical report is in progress the API
// answers 425 naming it; Request returns that id instead of failing or creating another.
func TestDuplicateRequestReusesReport(t *testing.T) {
	t.Parallel()
	scfg := sim.DefaultConfig()
	scfg.Profiles.Count, scfg.Profiles.AgencyShare = 1, 0
	srv, err := sim.New(scfg, sim.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close() })
	cfg := DefaultConfig()
	cfg.APIURL, cfg.TokenURL = ts.URL, ts.URL+"/auth/o2/token"
	hs, err := httpSpec(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cred := scfg.Auth.Clients[0]
	env := map[string]string{EnvClientID: cred.ClientID, EnvClientSecret: cred.ClientSecret, EnvRefreshToken: cred.RefreshToken}
	client, gov, err := provider.NewHTTP(context.Background(), providerName, hs, provider.HTTPDeps{Getenv: func(k string) string { return env[k] }, Egress: provider.LoopbackEgress()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gov.Close() })
	prof := sim.Profiles(scfg)[0]
	ra := &reportAPI{api: &api{base: ts.URL, client: client, routes: cfg.Limits.Routes}, profile: itoa(prof.ProfileID), report: reports[ReportSPCampaigns], name: "first"}
	j := jobs.Job{WindowStart: dayString(-5), WindowEnd: dayString(-3)}
	ctx := context.Background()
	first, err := ra.Request(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	ra.name = "second, same parameters"
	second, err := ra.Request(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if second != first || st.ReportsCreated != 1 || st.Duplicates != 1 {
		t.Errorf("second request: id %s (first %s), created %d, 425s %d; want the same id, 1 created, 1 duplicate", second, first, st.ReportsCreated, st.Duplicates)
	}
}

func TestGeneratedAtIsTheDataVersionSource(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	gen, upd := "2024-06-02T03:04:05.123456789Z", "2024-06-02T03:10:00Z"
	cases := []struct {
		name string
		ans  reportAnswer
		want time.Time
	}{
		{"generatedAt wins", reportAnswer{GeneratedAt: str(gen), UpdatedAt: str(upd)}, time.Date(2024, 6, 2, 3, 4, 5, 123456789, time.UTC)},
		{"updatedAt when no generatedAt", reportAnswer{UpdatedAt: str(upd)}, time.Date(2024, 6, 2, 3, 10, 0, 0, time.UTC)},
		{"unparsable generatedAt falls back", reportAnswer{GeneratedAt: str("yesterday"), UpdatedAt: str(upd)}, time.Date(2024, 6, 2, 3, 10, 0, 0, time.UTC)},
		{"neither", reportAnswer{}, time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := generatedAt(c.ans); !got.Equal(c.want) {
				t.Errorf("generatedAt = %v, want %v", got, c.want)
			}
		})
	}
}
