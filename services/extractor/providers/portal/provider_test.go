package portal

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/simulators/portal/sim"
)

// TestCrawlEmitsEveryReport: every listed report is downloaded once and emitted as one
// record per dataset of its kind, with a stable source key, and no portal ever saw more
// than four requests at once although 32 tasks ran at once, slow pages included.
func TestCrawlEmitsEveryReport(t *testing.T) {
	scfg := formPortals(sim.DefaultConfig())
	scfg.PageLatency = 5 * time.Millisecond
	scfg.SlowEvery, scfg.SlowLatency = 5, 200*time.Millisecond
	scfg.ListPageSize = 4
	tb := newTestbed(t, scfg)
	col := crawl(t, tb.provider(t), 32)

	want := tb.sim.Expected(testFrom, testTo)
	got := map[string]int{}
	for _, r := range col.recs {
		got[r.dataset+" "+r.sourceKey]++
		if r.attrs["portal"] != hostOf(r.sourceKey) {
			t.Errorf("%s: attribute portal %q", r.sourceKey, r.attrs["portal"])
		}
	}
	n := 0
	for _, r := range want.Reports {
		datasets := kindDatasets[r.Kind]
		for _, ds := range datasets {
			n++
			if k := ds + " " + r.Host + "/" + r.ID; got[k] != 1 {
				t.Errorf("%s emitted %d times, want 1", k, got[k])
			}
		}
	}
	if len(col.recs) != n {
		t.Errorf("%d records, want %d", len(col.recs), n)
	}
	st := tb.sim.Total()
	if st.Downloads != int64(len(want.Reports)) {
		t.Errorf("%d downloads, want one per report (%d)", st.Downloads, len(want.Reports))
	}
	checkCap(t, tb.sim)
	if st.MaxConcurrent < 4 {
		t.Errorf("at most %d requests at once: the cap of 4 was never reached, the test proves nothing", st.MaxConcurrent)
	}
}

// TestSessionExpiryLogsInAgain: sessions that expire every few requests are renewed and
// every report still arrives.
func TestSessionExpiryLogsInAgain(t *testing.T) {
	scfg := formPortals(sim.DefaultConfig())
	scfg.Portals = scfg.Portals[:1]
	scfg.SessionMaxRequests = 3
	tb := newTestbed(t, scfg)
	p := tb.provider(t)
	col := crawl(t, p, 4)

	want := tb.sim.Expected(testFrom, testTo)
	if len(col.recs) != len(want.Reports)+len(want.Reports)/3 { // settlement reports go to two datasets
		t.Errorf("%d records for %d reports", len(col.recs), len(want.Reports))
	}
	st := tb.sim.Total()
	if st.Expired == 0 || st.Logins < 2 {
		t.Fatalf("expected expired sessions and logins again; sim saw %d expired, %d logins", st.Expired, st.Logins)
	}
	if st.Downloads != int64(len(want.Reports)) {
		t.Errorf("%d downloads, want %d", st.Downloads, len(want.Reports))
	}
}

// TestProxyEgress: with a proxy configured, every request to the portals goes through it
// (a real forwarding proxy that dials the simulator).
func TestProxyEgress(t *testing.T) {
	scfg := formPortals(sim.DefaultConfig())
	scfg.Portals = scfg.Portals[:2]
	tb := newTestbed(t, scfg)
	var forwarded atomic.Int64
	simAddr := "127.0.0.1:" + tb.port
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			forwarded.Add(1)
			r.Out.URL = r.In.URL // a forward proxy: the request line holds the absolute URL
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{Proxy: nil, DialContext: (&dialTo{simAddr}).dial},
	}
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)
	tb.cfg.Proxy = ps.URL
	tb.cfg.Resolve = nil // only the proxy knows where the portals are
	col := crawl(t, tb.provider(t), 8)

	if len(col.recs) == 0 {
		t.Fatal("no records")
	}
	st := tb.sim.Total()
	if forwarded.Load() != st.Requests {
		t.Fatalf("proxy forwarded %d requests, portals saw %d: some bypassed the proxy", forwarded.Load(), st.Requests)
	}
}

// TestBrowserLogin signs in to the portal whose login page sets the cookie from a
// script, with headless Chromium, and downloads with the browser's cookie.
func TestBrowserLogin(t *testing.T) {
	if _, err := os.Stat(DefaultConfig().Chromium.Path); err != nil {
		t.Skipf("chromium is not installed at %s (apt-get install -y chromium; deploy/local/infra.sh up installs it): %v", DefaultConfig().Chromium.Path, err)
	}
	scfg := sim.DefaultConfig()
	var js []sim.Portal
	for _, p := range scfg.Portals {
		if p.Login == sim.LoginScript {
			js = append(js, p)
		}
	}
	scfg.Portals = js
	tb := newTestbed(t, scfg)
	col := crawl(t, tb.provider(t), 8)

	want := tb.sim.Expected(testFrom, testTo)
	st := tb.sim.Total()
	if st.Logins != 1 || st.Downloads != int64(len(want.Reports)) {
		t.Fatalf("script portal: %d logins (want 1), %d downloads (want %d)", st.Logins, st.Downloads, len(want.Reports))
	}
	if len(col.recs) == 0 {
		t.Fatal("no records")
	}
	checkCap(t, tb.sim)
}

// TestWrongPasswordIsPermanent: refused credentials are not retried.
func TestWrongPasswordIsPermanent(t *testing.T) {
	scfg := formPortals(sim.DefaultConfig())
	scfg.Portals = scfg.Portals[:1]
	tb := newTestbed(t, scfg)
	for k := range tb.env {
		tb.env[k] = "wrong"
	}
	p := tb.provider(t)
	_, err := p.Plan(t.Context(), providerTrigger())
	if err == nil || !isPermanent(err) {
		t.Fatalf("plan with a wrong password: %v, want a permanent error", err)
	}
}

// dialTo dials one address whatever the host asked for: the proxy's view of the portals.
type dialTo struct{ addr string }

func (d *dialTo) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	var nd net.Dialer
	return nd.DialContext(ctx, network, d.addr)
}

func providerTrigger() provider.Trigger {
	return provider.Trigger{RunID: "test", Source: "cli", From: testFrom, To: testTo}
}

func isPermanent(err error) bool { return errors.Is(err, provider.ErrPermanent) }

// TestBrokenPortalGivesUp: a portal whose sessions expire before serving anything (here:
// a session lifetime of 1 ns) fails the request after a bounded number of logins, with
// an error that says so, instead of signing in forever.
func TestBrokenPortalGivesUp(t *testing.T) {
	scfg := formPortals(sim.DefaultConfig())
	scfg.Portals = scfg.Portals[:1]
	scfg.SessionTTL = time.Nanosecond
	tb := newTestbed(t, scfg)
	p := tb.provider(t)
	var s *session
	for _, v := range p.sessions {
		s = v
	}
	_, err := s.get(t.Context(), "/reports")
	if err == nil || !errors.Is(err, errLoggedOut) || !strings.Contains(err.Error(), "expired before serving a request") {
		t.Fatalf("err = %v, want the sessions' expiry named", err)
	}
	if n := s.Logins(); n != maxRelogins+1 {
		t.Errorf("%d logins, want %d", n, maxRelogins+1)
	}
}
