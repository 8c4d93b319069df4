package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

// extractVariantCfg is one configuration of the extractor replicas.
type extractVariantCfg struct {
	name string
	// rate is the quota the governor is configured with (the simulator's, or more).
	rate  float64
	large bool
}

const extractReplicas = 3

// extractVariant runs one extraction: a private NATS, the simulator, three extractor
// replicas configured with v.rate, one run of yesterday's spCampaigns (or, for large, a
// month of spAdGroups) for every profile.
func extractVariant(ctx context.Context, env *Env, sc extractScale, v extractVariantCfg) (extractResult, error) {
	res := extractResult{name: v.name, quota: sc.quota}
	dir, err := os.MkdirTemp("", "sluice-bench-extract-"+v.name)
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	logDir := filepath.Join(dir, "log")
	n, err := startNATS(dir)
	if err != nil {
		return res, err
	}
	defer n.stop()
	nc, js, err := extractConnectJS(n.URL)
	if err != nil {
		return res, err
	}
	defer nc.Close()
	sim, err := startExtractSim(env, sc, v.large, logDir)
	if err != nil {
		return res, err
	}
	defer sim.Stop(10 * time.Second)

	reportType, days := "spCampaigns", 1
	if v.large {
		reportType, days = "spAdGroups", sc.largeDays
	}
	cfgPath := filepath.Join(dir, "amazonads.json")
	if err := writeProviderConfig(cfgPath, sim.url, v.rate, reportType); err != nil {
		return res, err
	}
	var group testinfra.Group
	defer func() { _ = group.Stop(20 * time.Second) }()
	for i := range extractReplicas {
		name := fmt.Sprintf("extractor-%d", i+1)
		p, err := testinfra.StartProc(name, filepath.Join(env.Bin, "sluice-extractor"),
			[]string{"--egress-allow-hosts=127.0.0.1,localhost", "--egress-allow-http", "--egress-allow-private", "--provider", "amazonads", "--provider-config", cfgPath, "--workers", "128", "--ack-wait", "30s", "--events=false"},
			append(extractServiceEnv(n.URL), "HOSTNAME="+name), logDir)
		if err != nil {
			return res, err
		}
		group = append(group, p)
	}
	if err := waitStarted(ctx, group); err != nil {
		return res, err
	}
	if err := sim.reset(); err != nil {
		return res, err
	}

	to := time.Now().UTC().AddDate(0, 0, -1)
	from := to.AddDate(0, 0, 1-days)
	start := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(env.Bin, "sluice"), "run", "amazonads",
		"--from", from.Format("2006-01-02"), "--to", to.Format("2006-01-02"), "--run-id", "bench-"+v.name, "--nats-url", n.URL)
	if out, err := cmd.CombinedOutput(); err != nil {
		return res, fmt.Errorf("sluice run: %w: %s", err, out)
	}
	reports := int64(sc.profiles)
	if v.large {
		reports = int64(sc.largeProfiles)
	}
	for {
		st, err := sim.stats()
		if err != nil {
			return res, err
		}
		if st.Requests["download"]["200"] >= reports {
			if drained, err := tasksDrained(ctx, js); err != nil {
				return res, err
			} else if drained {
				break
			}
		}
		for _, p := range group {
			if exited, err := p.Exited(); exited {
				return res, fmt.Errorf("%s exited: %v\n%s", p.Name, err, p.Tail(3000))
			}
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.wall = time.Since(start)
	st, err := sim.stats()
	if err != nil {
		return res, err
	}
	api := st.Rates["api"]
	res.admitted, res.requests, res.maxInWindow, res.bytes = api.Admitted, api.Requests, api.MaxInWindow, st.DownloadedBytes
	var perSecond []string
	for _, s := range api.PerSecond {
		perSecond = append(perSecond, fmt.Sprintf("%d/%d", s.Admitted, s.Requests))
	}
	env.Logf("extract %s: API calls admitted/sent per second: %s", v.name, strings.Join(perSecond, " "))
	for _, p := range group {
		mb, err := extractPeakRSSMB(p.Pid())
		if err != nil {
			return res, err
		}
		res.peakRSSMB = max(res.peakRSSMB, mb)
		if strings.Contains(p.Tail(1<<20), "level=ERROR") {
			env.Logf("extract %s: %s logged errors:\n%s", v.name, p.Name, p.Tail(2000))
		}
	}
	env.Logf("extract %s", res)
	return res, nil
}

// writeProviderConfig writes the amazonads configuration: one quota "api" of rate for
// every API call, fast polling for the scaled-down report latency.
func writeProviderConfig(path, simURL string, rate float64, reportType string) error {
	cfg := map[string]any{
		"api_url": simURL, "token_url": simURL + "/auth/o2/token",
		"report_types": []string{reportType},
		"poll":         map[string]any{"initial": "300ms", "max": "3s", "multiplier": 1.5, "jitter": 0.5},
		"records":      map[string]any{"max_rows": 1000, "max_bytes": 256 << 10},
		"limits": map[string]any{
			"quotas":               map[string]any{"api": map[string]any{"rate": rate}, "download": map[string]any{"rate": 1000, "fixed": true}},
			"routes":               map[string]string{"token": "api", "profiles": "api", "create": "api", "status": "api", "download": "download"},
			"download_concurrency": 16,
		},
		"retry": map[string]any{"max_attempts": 12, "initial_backoff": "200ms", "max_backoff": "5s"},
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// waitStarted waits until every extractor subscribed to its tasks.
func waitStarted(ctx context.Context, group testinfra.Group) error {
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range group {
		for !strings.Contains(p.Tail(1<<16), "dataset spec registered") {
			if exited, err := p.Exited(); exited {
				return fmt.Errorf("%s exited: %v\n%s", p.Name, err, p.Tail(3000))
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%s did not start:\n%s", p.Name, p.Tail(3000))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(time.Second) // consumers created, governors loaded
	return nil
}
