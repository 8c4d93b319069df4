package portal

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/simulators/portal/sim"
)

// testbed is the simulator on a loopback port and a provider whose transport dials it
// for every portal host (Config.Resolve), with a local governor.
type testbed struct {
	sim  *sim.Server
	port string
	cfg  *Config
	env  map[string]string
}

func newTestbed(t *testing.T, scfg sim.Config) *testbed {
	t.Helper()
	s, err := sim.New(scfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	tb := &testbed{sim: s, port: port, cfg: DefaultConfig(), env: map[string]string{}}
	tb.cfg.Resolve = map[string]string{}
	for i, p := range scfg.Portals {
		env := "SLUICE_PORTAL_PASSWORD_" + strconv.Itoa(i)
		login := LoginForm
		if p.Login == sim.LoginScript {
			login = LoginBrowser
		}
		tb.cfg.Portals = append(tb.cfg.Portals, Portal{URL: "http://" + p.Host + ":" + port, Login: login, User: p.User, PasswordEnv: env})
		tb.cfg.Resolve[p.Host] = "127.0.0.1"
		tb.env[env] = p.Password
	}
	return tb
}

func (tb *testbed) provider(t *testing.T) *crawler {
	t.Helper()
	if err := tb.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	hs, err := httpSpec(tb.cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, gov, err := provider.NewHTTP(context.Background(), providerName, hs, provider.HTTPDeps{Getenv: tb.getenv, Egress: provider.LoopbackEgress()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gov.Close() })
	p, err := New(tb.cfg, provider.Deps{Getenv: tb.getenv, Services: provider.Services{HTTP: client}})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*crawler)
}

func (tb *testbed) getenv(k string) string { return tb.env[k] }

// raw is an emitted record.
type raw struct {
	dataset, sourceKey, contentType string
	body                            []byte
	attrs                           map[string]string
}

type collector struct {
	mu   sync.Mutex
	recs []raw
}

func (c *collector) Emit(_ context.Context, r provider.Raw) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.recs = append(c.recs, raw{r.Dataset, r.SourceKey, r.ContentType, b, r.Attributes})
	c.mu.Unlock()
	return nil
}

var (
	testFrom = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	testTo   = time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC)
)

// crawl plans the test days and runs every task with workers at once, as one replica
// with --workers would.
func crawl(t *testing.T, p *crawler, workers int) *collector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tasks, err := p.Plan(ctx, provider.Trigger{RunID: "test", Source: "cli", From: testFrom, To: testTo})
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, task := range tasks {
		g.Go(func() error { return p.Run(gctx, task, col) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return col
}

func formPortals(scfg sim.Config) sim.Config {
	var out []sim.Portal
	for _, p := range scfg.Portals {
		if p.Login == sim.LoginForm {
			out = append(out, p)
		}
	}
	scfg.Portals = out
	return scfg
}

// checkCap fails the test when any portal saw more than 4 requests at once.
func checkCap(t *testing.T, s *sim.Server) {
	t.Helper()
	for host, st := range s.Stats() {
		if st.MaxConcurrent > 4 || st.Violations > 0 {
			t.Errorf("%s: %d requests at once (%d violations), the cap is 4", host, st.MaxConcurrent, st.Violations)
		}
	}
}

func hostOf(sourceKey string) string { h, _, _ := strings.Cut(sourceKey, "/"); return h }

var _ http.Handler = (*sim.Server)(nil)
