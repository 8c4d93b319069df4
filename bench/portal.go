package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

// portalSuite measures the partner-portal crawl against the portal simulator: three
// extractor replicas under the governor's per-host cap of 4 (portal_time_ratio), and a
// naive crawler with one shared pool of the same total size, no per-host limit, retrying
// the portals' refusals (naive_portal_time_ratio). Both are wall time ÷ the ideal
// reports × page latency ÷ (4 × sub-domains).
var portalSuite = Suite{Name: "portal", Run: runPortal}

type portalScale struct {
	portals, accounts int
	latency           time.Duration
}

func (s portalScale) reports() int { return s.portals * s.accounts * 3 } // one day, three kinds

func (s portalScale) ideal() time.Duration {
	return time.Duration(float64(s.reports()) * float64(s.latency) / float64(4*s.portals))
}

func portalScaleOf(small bool) portalScale {
	if small {
		return portalScale{portals: 5, accounts: 14, latency: 250 * time.Millisecond} // 210 reports
	}
	return portalScale{portals: 5, accounts: 134, latency: 100 * time.Millisecond} // 2,010 reports
}

const portalDay = "2024-06-01"

// portalReplicas is how many extractor processes share the per-host leases.
var portalReplicas = 3

func runPortal(ctx context.Context, env *Env) error {
	if err := testinfra.Build(ctx, env.Root, env.Bin, "sluice-extractor", "sluice-sim-portal", "sluice"); err != nil {
		return err
	}
	sc := portalScaleOf(env.Small)
	if v, err := strconv.Atoi(os.Getenv("BENCH_PORTAL_REPLICAS")); err == nil && v > 0 {
		portalReplicas = v
	}
	env.Logf("portal: %d reports over %d sub-domains, page latency %s, ideal %s", sc.reports(), sc.portals, sc.latency, sc.ideal())

	wall, err := portalGoverned(ctx, env, sc)
	if err != nil {
		return err
	}
	env.Emit("portal_time_ratio", extractRound4(wall.Seconds()/sc.ideal().Seconds()))
	naive, err := portalNaive(ctx, env, sc)
	if err != nil {
		return err
	}
	env.Emit("naive_portal_time_ratio", extractRound4(naive.Seconds()/sc.ideal().Seconds()))
	return nil
}

// portalSim is the simulator process with its portals' hosts.
type portalSim struct {
	*testinfra.Proc
	addr  string
	hosts []string
}

func startPortalSim(env *Env, sc portalScale, logDir string) (*portalSim, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s := &portalSim{addr: addr}
	for i := range sc.portals {
		s.hosts = append(s.hosts, fmt.Sprintf("p%d.portal.test", i+1))
	}
	p, err := testinfra.StartProc("sim-portal", filepath.Join(env.Bin, "sluice-sim-portal"), []string{
		"--addr", addr, "--portals", strings.Join(s.hosts, ","), "--accounts", strconv.Itoa(sc.accounts),
		"--page-latency", sc.latency.String(), "--list-page-size", "1000", "--refuse-overlap",
	}, nil, logDir)
	if err != nil {
		return nil, err
	}
	s.Proc = p
	for deadline := time.Now().Add(20 * time.Second); ; {
		if _, err := s.stats(); err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			_ = p.Stop(5 * time.Second)
			return nil, fmt.Errorf("portal simulator did not start:\n%s", p.Tail(2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type portalHostStats struct {
	Requests, Downloads, Refused int64
	MaxConcurrent                int `json:"max_concurrent"`
}

func (s *portalSim) stats() (map[string]portalHostStats, error) {
	resp, err := http.Get("http://" + s.addr + "/_sim/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]portalHostStats{}
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

func (s *portalSim) totals() (downloads, requests, refused int64, maxConc int, err error) {
	st, err := s.stats()
	for _, h := range st {
		downloads += h.Downloads
		requests += h.Requests
		refused += h.Refused
		maxConc = max(maxConc, h.MaxConcurrent)
	}
	return downloads, requests, refused, maxConc, err
}

// portalGoverned runs three extractor replicas and times one run from `sluice run` until
// every report was downloaded and every task acked.
func portalGoverned(ctx context.Context, env *Env, sc portalScale) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "sluice-bench-portal")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	logDir := filepath.Join(dir, "log")
	n, err := startNATS(dir)
	if err != nil {
		return 0, err
	}
	defer n.stop()
	nc, js, err := extractConnectJS(n.URL)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	sim, err := startPortalSim(env, sc, logDir)
	if err != nil {
		return 0, err
	}
	defer sim.Stop(10 * time.Second)

	_, port, _ := net.SplitHostPort(sim.addr)
	var portals []map[string]string
	resolve := map[string]string{}
	procEnv := extractServiceEnv(n.URL)
	for i, h := range sim.hosts {
		name := "SLUICE_BENCH_PORTAL_PASSWORD_" + strconv.Itoa(i)
		portals = append(portals, map[string]string{"url": "http://" + h + ":" + port, "user": "crawler", "password_env": name})
		resolve[h] = "127.0.0.1"
		procEnv = append(procEnv, name+"=secret-"+h)
	}
	cfg, err := json.Marshal(map[string]any{"portals": portals, "resolve": resolve, "rate": 2000})
	if err != nil {
		return 0, err
	}
	cfgPath := filepath.Join(dir, "portal.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return 0, err
	}
	var group testinfra.Group
	defer func() { _ = group.Stop(20 * time.Second) }()
	for i := range portalReplicas {
		name := fmt.Sprintf("extractor-portal-%d", i+1)
		p, err := testinfra.StartProc(name, filepath.Join(env.Bin, "sluice-extractor"),
			[]string{"--provider", "portal", "--provider-config", cfgPath, "--workers", "64", "--events=false"},
			append(procEnv, "HOSTNAME="+name), logDir)
		if err != nil {
			return 0, err
		}
		group = append(group, p)
	}
	if err := waitStarted(ctx, group); err != nil {
		return 0, err
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(env.Bin, "sluice"), "run", "portal",
		"--from", portalDay, "--to", portalDay, "--run-id", "bench-portal", "--nats-url", n.URL)
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("sluice run: %w: %s", err, out)
	}
	for {
		downloads, _, _, _, err := sim.totals()
		if err != nil {
			return 0, err
		}
		if downloads >= int64(sc.reports()) {
			if drained, err := tasksDrained(ctx, js); err != nil {
				return 0, err
			} else if drained {
				break
			}
		}
		for _, p := range group {
			if exited, err := p.Exited(); exited {
				return 0, fmt.Errorf("%s exited: %v\n%s", p.Name, err, p.Tail(3000))
			}
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
	wall := time.Since(start)
	downloads, requests, refused, maxConc, err := sim.totals()
	if err != nil {
		return 0, err
	}
	env.Logf("portal governed: %s for %d downloads (%d requests, %d refused, at most %d at once per sub-domain)", wall.Round(time.Millisecond), downloads, requests, refused, maxConc)
	return wall, nil
}

// portalNaive crawls with one shared pool of 4 × sub-domains workers taking reports in
// listing order (portal after portal), as the thread-pool crawler did: no per-host limit,
// a refused request (429) is retried after a jittered exponential backoff.
func portalNaive(ctx context.Context, env *Env, sc portalScale) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "sluice-bench-portal-naive")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	sim, err := startPortalSim(env, sc, filepath.Join(dir, "log"))
	if err != nil {
		return 0, err
	}
	defer sim.Stop(10 * time.Second)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	nv := &naivePortal{client: client, addr: sim.addr, cookies: map[string]string{}}

	start := time.Now()
	type job struct{ host, url string }
	var jobs []job
	for _, h := range sim.hosts {
		if err := nv.login(ctx, h); err != nil {
			return 0, err
		}
		var lp struct {
			Reports []struct{ URL string }
			Next    string
		}
		q := url.Values{"from": {portalDay}, "to": {portalDay}}
		if err := nv.getJSON(ctx, h, "/reports?"+q.Encode(), &lp); err != nil {
			return 0, err
		}
		for _, r := range lp.Reports {
			jobs = append(jobs, job{h, r.URL})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4 * sc.portals)
	for _, j := range jobs {
		g.Go(func() error { return nv.download(gctx, j.host, j.url) })
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	wall := time.Since(start)
	downloads, requests, refused, maxConc, err := sim.totals()
	if err != nil {
		return 0, err
	}
	env.Logf("portal naive: %s for %d downloads (%d requests, %d refused and retried, %d retries, at most %d at once per sub-domain)",
		wall.Round(time.Millisecond), downloads, requests, refused, nv.retries.Load(), maxConc)
	return wall, nil
}

type naivePortal struct {
	client  *http.Client
	addr    string
	mu      sync.Mutex
	cookies map[string]string
	retries atomic.Int64
}

// do sends one request to host through the simulator's address, retrying refusals.
func (n *naivePortal) do(ctx context.Context, host, method, path string, form url.Values) (*http.Response, error) {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var body *strings.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		req, err := http.NewRequestWithContext(ctx, method, "http://"+n.addr+path, body)
		if err != nil {
			return nil, err
		}
		req.Host = host
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		n.mu.Lock()
		if c := n.cookies[host]; c != "" {
			req.Header.Set("Cookie", c)
		}
		n.mu.Unlock()
		resp, err := n.client.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				return nil, fmt.Errorf("%s %s%s: %s", method, host, path, resp.Status)
			}
			return resp, nil
		}
		resp.Body.Close()
		if attempt == 30 {
			return nil, fmt.Errorf("%s %s%s: refused %d times", method, host, path, attempt)
		}
		n.retries.Add(1)
		wait := time.Duration(float64(backoff) * (0.5 + rand.Float64()))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (n *naivePortal) login(ctx context.Context, host string) error {
	resp, err := n.do(ctx, host, http.MethodPost, "/login", url.Values{"username": {"crawler"}, "password": {"secret-" + host}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		n.mu.Lock()
		n.cookies[host] = c.Name + "=" + c.Value
		n.mu.Unlock()
	}
	return nil
}

func (n *naivePortal) getJSON(ctx context.Context, host, path string, v any) error {
	resp, err := n.do(ctx, host, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func (n *naivePortal) download(ctx context.Context, host, path string) error {
	resp, err := n.do(ctx, host, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
