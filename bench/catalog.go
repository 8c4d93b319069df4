package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

// catalogSuite measures the catalog manifest (rest provider) against the catalog simulator:
// a paginated list plus one detail call per hotel, under a QPS limit per API key that the
// simulator enforces, against the same work done by a fixed thread pool with retries (as
// the original system did).
var catalogSuite = Suite{Name: "catalog", Run: runCatalog}

type catalogScale struct {
	hotels int
	// naiveBudget bounds the naive baseline's run (see catalogNaive).
	naiveBudget time.Duration
	// keyRate is the simulator's QPS limit of each of keys API keys (burst 5, as the extract
	// suite's simulator).
	keyRate float64
	keys    int
}

func catalogScaleOf(small bool) catalogScale {
	if small {
		return catalogScale{hotels: 5000, keyRate: 50, keys: 2, naiveBudget: 30 * time.Second}
	}
	return catalogScale{hotels: 100000, keyRate: 100, keys: 2, naiveBudget: 3 * time.Minute}
}

// quota is calls per second over all keys.
func (s catalogScale) quota() float64 { return s.keyRate * float64(s.keys) }

func (s catalogScale) apiKeys() []string {
	var out []string
	for i := range s.keys {
		out = append(out, fmt.Sprintf("bench-key-%d", i+1))
	}
	return out
}

func runCatalog(ctx context.Context, env *Env) error {
	sc := catalogScaleOf(env.Small)
	if err := testinfra.Build(ctx, env.Root, env.Bin, "sluice-extractor", "sluice-sim-catalog", "sluice"); err != nil {
		return err
	}
	env.Logf("catalog: %d hotels, %d keys at %g/s each", sc.hotels, sc.keys, sc.keyRate)
	gov, err := catalogGoverned(ctx, env, sc)
	if err != nil {
		return fmt.Errorf("governed: %w", err)
	}
	env.Emit("catalog_time_ratio", round3(gov.ratio()))
	env.Emit("catalog_429_rate", extractRound4(gov.rate429()))
	naive, err := catalogNaive(ctx, env, sc, sc.naiveBudget)
	if err != nil {
		return fmt.Errorf("naive: %w", err)
	}
	env.Emit("naive_catalog_time_ratio", round3(naive.ratio()))
	env.Emit("naive_catalog_429_rate", extractRound4(naive.rate429()))
	return nil
}

// catalogSim is a catalog simulator process.
type catalogSim struct {
	*testinfra.Proc
	url string
}

// catalogSimStats is the part of /_sim/stats the benchmark reads.
type catalogSimStats struct {
	Requests  int64 `json:"requests"`
	Admitted  int64 `json:"admitted"`
	Throttled int64 `json:"throttled"`
	Errors    int64 `json:"errors"`
	DetailOK  int64 `json:"detailOK"`
	// First and Last admitted calls: the time between trigger and first call is startup.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

func startCatalogSim(env *Env, sc catalogScale, logDir string) (*catalogSim, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	args := []string{"--addr", addr, "--seed", "11", "--hotels", strconv.Itoa(sc.hotels), "--max-page-size", "100",
		"--api-keys", strings.Join(sc.apiKeys(), ","), "--key-rate", fmt.Sprint(sc.keyRate), "--key-burst", "5",
		"--no-retry-after", "0.3", "--error-rate", "0.002", "--slow-rate", "0.01", "--slow", "200ms"}
	p, err := testinfra.StartProc("catalog-sim", filepath.Join(env.Bin, "sluice-sim-catalog"), args, nil, logDir)
	if err != nil {
		return nil, err
	}
	s := &catalogSim{Proc: p, url: "http://" + addr}
	for deadline := time.Now().Add(15 * time.Second); ; {
		if _, err := s.stats(); err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			_ = p.Stop(5 * time.Second)
			return nil, fmt.Errorf("catalog simulator did not start: %s", p.Tail(2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *catalogSim) stats() (catalogSimStats, error) {
	var st catalogSimStats
	return st, simStats(s.url, &st)
}

func (s *catalogSim) reset() error { return simReset(s.url) }

// catalogResult is one variant's measurement.
func catalogResult(name string, sc catalogScale, wall time.Duration, st catalogSimStats) extractResult {
	return extractResult{name: name, wall: wall, admitted: st.Admitted, requests: st.Requests, quota: sc.quota()}
}

// catalogGoverned runs the catalog provider in one extractor on a private NATS.
func catalogGoverned(ctx context.Context, env *Env, sc catalogScale) (extractResult, error) {
	dir, err := os.MkdirTemp("", "sluice-bench-catalog")
	if err != nil {
		return extractResult{}, err
	}
	defer os.RemoveAll(dir)
	logDir := filepath.Join(dir, "log")
	n, err := startNATS(dir)
	if err != nil {
		return extractResult{}, err
	}
	defer n.stop()
	nc, js, err := extractConnectJS(n.URL)
	if err != nil {
		return extractResult{}, err
	}
	defer nc.Close()
	sim, err := startCatalogSim(env, sc, logDir)
	if err != nil {
		return extractResult{}, err
	}
	defer sim.Stop(10 * time.Second)
	cfgPath := filepath.Join(dir, "catalog.json")
	cfg, _ := json.Marshal(map[string]any{"base_url": sim.url, "rate": sc.keyRate, "burst": 2, "concurrency": max(16, int(sc.keyRate/3)), "prefetch": 3,
		"retry": map[string]any{"max_attempts": 20, "initial_backoff": "100ms", "max_backoff": "2s"}})
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return extractResult{}, err
	}
	p, err := testinfra.StartProc("extractor", filepath.Join(env.Bin, "sluice-extractor"),
		[]string{"--provider", "catalog", "--provider-config", cfgPath, "--workers", "4", "--ack-wait", "30s", "--events=false"},
		append(extractServiceEnv(n.URL), "SLUICE_CATALOG_API_KEYS="+strings.Join(sc.apiKeys(), ",")), logDir)
	if err != nil {
		return extractResult{}, err
	}
	group := testinfra.Group{p}
	defer func() { _ = group.Stop(20 * time.Second) }()
	if err := waitStarted(ctx, group); err != nil {
		return extractResult{}, err
	}
	if err := sim.reset(); err != nil {
		return extractResult{}, err
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(env.Bin, "sluice"), "run", "catalog", "--run-id", "bench-catalog",
		"--param", "full_refresh=true", "--nats-url", n.URL)
	if out, err := cmd.CombinedOutput(); err != nil {
		return extractResult{}, fmt.Errorf("sluice run: %w: %s", err, out)
	}
	for {
		st, err := sim.stats()
		if err != nil {
			return extractResult{}, err
		}
		if st.DetailOK >= int64(sc.hotels) {
			if drained, err := tasksDrained(ctx, js); err != nil {
				return extractResult{}, err
			} else if drained {
				res := catalogResult("governed", sc, time.Since(start), st)
				env.Logf("catalog %s; first call %v after the trigger, calls over %v (%.3f of ideal)", res,
					st.First.Sub(start).Round(time.Millisecond), st.Last.Sub(st.First).Round(time.Millisecond),
					st.Last.Sub(st.First).Seconds()/(float64(st.Admitted)/sc.quota()))
				return res, nil
			}
		}
		if exited, err := p.Exited(); exited {
			return extractResult{}, fmt.Errorf("extractor exited: %v\n%s", err, p.Tail(3000))
		}
		if ctx.Err() != nil {
			return extractResult{}, ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
}
