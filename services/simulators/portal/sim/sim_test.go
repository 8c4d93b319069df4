package sim

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func serve(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func get(t *testing.T, ts *httptest.Server, host, path, cookie string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	req.Host = host
	if cookie != "" {
		req.Header.Set("Cookie", SessionCookie+"="+cookie)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestOverlapIsCountedPerHost: five requests at once on one host are a violation (or
// refused in refuse mode); four are not.
func TestOverlapIsCountedPerHost(t *testing.T) {
	for _, c := range []struct {
		name    string
		overlap Overlap
		n       int
		status  int
	}{
		{"four at once pass", OverlapFail, 4, 0},
		{"a fifth fails the run", OverlapFail, 5, http.StatusInternalServerError},
		{"a fifth is refused", OverlapRefuse, 5, http.StatusTooManyRequests},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Overlap = c.overlap
			cfg.PageLatency = 300 * time.Millisecond
			s, ts := serve(t, cfg)
			statuses := make(chan int, c.n)
			var wg sync.WaitGroup
			for range c.n {
				wg.Go(func() { statuses <- get(t, ts, "a.portal.test", "/login", "").StatusCode })
			}
			wg.Wait()
			close(statuses)
			seen := 0
			for st := range statuses {
				if st == c.status {
					seen++
				}
			}
			stats := s.Stats()["a.portal.test"]
			switch {
			case c.status == 0 && (stats.Violations != 0 || stats.MaxConcurrent != 4):
				t.Fatalf("stats %+v, want max 4 and no violation", stats)
			case c.status != 0 && seen != 1:
				t.Fatalf("%d answers %d, want 1 (stats %+v)", seen, c.status, stats)
			case c.overlap == OverlapFail && c.status != 0 && stats.Violations != 1:
				t.Fatalf("stats %+v, want one violation", stats)
			}
		})
	}
}

// TestSessionsExpireToTheLoginPage: a session ends after SessionMaxRequests requests and
// the portal redirects to its login page, like a request without a session.
func TestSessionsExpireToTheLoginPage(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SessionMaxRequests = 2
	s, ts := serve(t, cfg)
	p := cfg.Portals[0]
	resp := formLogin(t, ts, p)
	var token string
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			token = c.Value
		}
	}
	if token == "" {
		t.Fatalf("login answered %s without a session cookie", resp.Status)
	}
	path := "/reports?from=2024-06-01&to=2024-06-01"
	for i, want := range []int{200, 200, 302} {
		if got := get(t, ts, p.Host, path, token).StatusCode; got != want {
			t.Fatalf("request %d: %d, want %d", i+1, got, want)
		}
	}
	if get(t, ts, p.Host, path, "").StatusCode != http.StatusFound {
		t.Fatal("a request without a session was served")
	}
	if st := s.Stats()[p.Host]; st.Expired != 1 || st.Logins != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestScriptPortalRefusesFormLogin: the script portal cannot be signed in to without
// running its page's script.
func TestScriptPortalRefusesFormLogin(t *testing.T) {
	cfg := DefaultConfig()
	_, ts := serve(t, cfg)
	resp := formLogin(t, ts, cfg.Portals[3])
	if resp.StatusCode != http.StatusBadRequest || len(resp.Cookies()) != 0 {
		t.Fatalf("form login on the script portal: %s with %d cookies", resp.Status, len(resp.Cookies()))
	}
}

// formLogin posts p's credentials to its login form.
func formLogin(t *testing.T, ts *httptest.Server, p Portal) *http.Response {
	t.Helper()
	form := url.Values{"username": {p.User}, "password": {p.Password}}
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/login", strings.NewReader(form.Encode()))
	req.Host = p.Host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
