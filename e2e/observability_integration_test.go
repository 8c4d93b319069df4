package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sluice-dev/sluice/deploy/observability"
	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/extractor/providers/demo"
)

// TestObservabilityMetricsExported runs the demo pipeline and, beside it, the amazonads
// extractor against the Amazon Ads simulator set to throttle report requests, pushes a
// poison message to the DLQ, then scrapes every service's /metrics: each metric the
// Grafana dashboard or an alert rule queries must be exported by some service. Demo
// payloads are claim-checked to S3 here (inline limit 1 KiB), so the test also traces a
// claim-checked row with `sluice trace`.
func TestObservabilityMetricsExported(t *testing.T) {
	env := testinfra.Require(t, testinfra.Postgres, testinfra.Mongo, testinfra.S3, testinfra.Jaeger)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	dash, err := observability.ParseDashboard(observability.DashboardJSON)
	if err != nil {
		t.Fatal(err)
	}
	if len(dash.AllPanels()) < 10 {
		t.Fatalf("dashboard has %d panels", len(dash.AllPanels()))
	}
	rules, err := observability.ParseRules(observability.RulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	wanted := map[string][]string{} // metric → files that query it
	dashMetrics, err := dash.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	ruleMetrics, err := rules.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range dashMetrics {
		wanted[m] = append(wanted[m], "grafana-dashboard.json")
	}
	for _, m := range ruleMetrics {
		wanted[m] = append(wanted[m], "prometheus-rules.yaml")
	}

	// 13 demo rows make payloads of 1028..1079 bytes: every record goes to S3.
	t.Setenv("SLUICE_INLINE_LIMIT", "1024")
	const recs, rows = 6, 13
	p := startDemoPipeline(t, ctx, env, demo.Config{Records: recs, RowsPerRecord: rows, Tasks: 2}, "sluice-sim-amazonads")
	scrape := map[string]string{}
	for name, addr := range p.svc.HTTP {
		scrape[name] = addr
	}
	scrape["extractor-amazonads"] = startAmazonAds(t, ctx, p)

	sluiceRun(t, ctx, p.bin, p.natsURL, "obs-demo")
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	if out, errOut, err := p.sluice(ctx, "run", "amazonads", "--from", yesterday, "--to", yesterday, "--run-id", "obs-amazonads"); err != nil {
		t.Fatalf("sluice run amazonads: %v\n%s%s", err, out, errOut)
	}
	// A message staging cannot decode is dead-lettered at once (a permanent error).
	if _, err := p.js.Publish(ctx, "sluice.raw.demo.items", []byte("not a record envelope")); err != nil {
		t.Fatal(err)
	}
	if _, err := harness.WaitRows(ctx, p.pool, "demo_items", recs*rows, 90*time.Second); err != nil {
		t.Fatal(err)
	}

	exported := map[string]map[string]bool{} // metric → services
	deadline := time.Now().Add(2 * time.Minute)
	var missing []string
	for {
		for name, addr := range scrape {
			names, err := scrapeMetricNames(ctx, addr)
			if err != nil {
				t.Fatalf("scrape %s at %s: %v", name, addr, err)
			}
			for _, n := range names {
				if exported[n] == nil {
					exported[n] = map[string]bool{}
				}
				exported[n][name] = true
			}
		}
		missing = missing[:0]
		for m := range wanted {
			if len(exported[m]) == 0 {
				missing = append(missing, m)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("%s is queried by %s but no service exports it", m, strings.Join(wanted[m], " and "))
	}
	if t.Failed() {
		var all []string
		for n := range exported {
			if strings.HasPrefix(n, "sluice_") || strings.HasPrefix(n, "http_") {
				all = append(all, n)
			}
		}
		sort.Strings(all)
		t.Logf("exported: %s", strings.Join(all, " "))
	} else {
		t.Logf("all %d metrics of the dashboard and alert rules are exported", len(wanted))
	}
	// Every sluice metric carries service_name, which the dashboard and rules group by.
	if n, err := countSeriesWithout(ctx, scrape["extractor-amazonads"], "sluice_apiclient_requests_total", `service_name="extractor-amazonads"`); err != nil || n > 0 {
		t.Errorf("sluice_apiclient_requests_total: %d series without service_name (%v)", n, err)
	}

	t.Run("trace a claim-checked row", func(t *testing.T) {
		checkTraceCommand(t, ctx, p, 20, rows, true)
	})
	t.Run("status shows the DLQ and the amazonads quotas", func(t *testing.T) {
		rep := p.status(t, ctx, "--json", "--interval", "0")
		if rep.DLQ.Messages < 1 {
			t.Errorf("status: DLQ %d messages, want the poison message", rep.DLQ.Messages)
		}
		out, errOut, err := p.sluice(ctx, "status", "--json", "--interval", "0", "--provider", "amazonads")
		if err != nil {
			t.Fatalf("sluice status: %v\n%s", err, errOut)
		}
		var full struct {
			Providers []struct {
				Provider  string `json:"provider"`
				Throttled uint64 `json:"throttled"`
				Quotas    []struct {
					Quota  string  `json:"quota"`
					Rate   float64 `json:"rate"`
					Issued uint64  `json:"issued"`
				} `json:"quotas"`
			} `json:"providers"`
		}
		if err := json.Unmarshal([]byte(out), &full); err != nil {
			t.Fatal(err)
		}
		if len(full.Providers) != 1 || full.Providers[0].Provider != "amazonads" {
			t.Fatalf("--provider amazonads: %s", out)
		}
		a := full.Providers[0]
		var issued uint64
		for _, q := range a.Quotas {
			issued += q.Issued
		}
		if issued == 0 || a.Throttled == 0 {
			t.Errorf("amazonads: %d permits issued, %d throttles; want both from the shared limits: %s", issued, a.Throttled, out)
		}
		if out, _, err := p.sluice(ctx, "status", "--interval", "500ms"); err == nil {
			t.Logf("sluice status:\n%s", out)
		}
	})
}

// startAmazonAds starts the simulator, throttling report creation at half a request per
// second per profile while the provider is configured for five, and the amazonads
// extractor against it; it returns the extractor's metrics address.
func startAmazonAds(t *testing.T, ctx context.Context, p *demoPipeline) string {
	t.Helper()
	simAddr := freeTCPAddr(t)
	sim, err := testinfra.StartProc("sim-amazonads", filepath.Join(p.bin, "sluice-sim-amazonads"), []string{
		"--addr", simAddr, "--profiles", "4", "--campaigns", "2", "--ad-groups", "2",
		"--latency-median", "50ms", "--latency-max", "300ms", "--stuck-rate", "0", "--failure-rate", "0",
		"--create-profile-rate", "0.5", "--create-profile-burst", "1",
	}, nil, p.logDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Stop(5 * time.Second) })
	waitHTTP(t, ctx, sim, "http://"+simAddr+"/_sim/stats")

	cfg := amazonads.DefaultConfig()
	cfg.APIURL, cfg.TokenURL = "http://"+simAddr, "http://"+simAddr+"/auth/o2/token"
	cfg.Poll = amazonads.Poll{Initial: amazonads.Duration(50 * time.Millisecond), Max: amazonads.Duration(500 * time.Millisecond), Multiplier: 1.5, Jitter: 0.5}
	cfg.Retry.InitialBackoff, cfg.Retry.MaxBackoff = amazonads.Duration(50*time.Millisecond), amazonads.Duration(2*time.Second)
	create := cfg.Limits.Quotas[amazonads.ClassCreate]
	create.Rate, create.PerProfileRate = 20, 5
	cfg.Limits.Quotas[amazonads.ClassCreate] = create
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(p.logDir, "amazonads-config.json")
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeTCPAddr(t)
	env := map[string]string{
		"SLUICE_NATS_URL": p.natsURL, "SLUICE_HTTP_ADDR": addr, "SLUICE_OTLP_ENDPOINT": p.env.OTLPEndpoint,
		"SLUICE_S3_ENDPOINT": p.env.S3Endpoint, "SLUICE_S3_ACCESS_KEY": p.env.S3AccessKey, "SLUICE_S3_SECRET_KEY": p.env.S3SecretKey,
		"SLUICE_S3_REGION": p.env.S3Region, "SLUICE_S3_BUCKET": p.bucket, "SLUICE_LOG_FORMAT": "text", "SLUICE_SHUTDOWN_TIMEOUT": "10s",
		amazonads.EnvClientID:     "amzn1.application-oa2-client.sluicesim",
		amazonads.EnvClientSecret: "sluice-sim-secret",
		amazonads.EnvRefreshToken: "Atzr|sluice-sim-refresh-token",
	}
	ext, err := testinfra.StartProc("extractor-amazonads", filepath.Join(p.bin, "sluice-extractor"),
		[]string{"--egress-allow-hosts=127.0.0.1,localhost", "--egress-allow-http", "--egress-allow-private", "--provider", "amazonads", "--provider-config", cfgPath}, testinfra.ProcEnv(env), p.logDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ext.Stop(20 * time.Second); err != nil {
			t.Errorf("stop extractor-amazonads: %v", err)
		}
		if t.Failed() {
			t.Logf("--- extractor-amazonads log:\n%s", ext.Tail(3000))
			t.Logf("--- sim-amazonads log:\n%s", sim.Tail(2000))
		}
	})
	waitHTTP(t, ctx, ext, "http://"+addr+"/readyz")
	return addr
}

// waitHTTP waits until url answers 200, failing early when the process exits.
func waitHTTP(t *testing.T, ctx context.Context, p *testinfra.Proc, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if exited, err := p.Exited(); exited {
			t.Fatalf("%s exited during start (%v):\n%s", p.Name, err, p.Tail(4000))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not ready within 30s:\n%s", p.Name, url, p.Tail(4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scrapeMetricNames returns the sample names (with _total, _bucket, … suffixes) a
// service's /metrics exposes.
func scrapeMetricNames(ctx context.Context, addr string) ([]string, error) {
	var names []string
	seen := map[string]bool{}
	err := scrapeLines(ctx, addr, func(line string) {
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	})
	return names, err
}

// countSeriesWithout counts the series of metric that lack label (e.g. `service_name="x"`).
func countSeriesWithout(ctx context.Context, addr, metric, label string) (int, error) {
	n := 0
	err := scrapeLines(ctx, addr, func(line string) {
		if strings.HasPrefix(line, metric+"{") && !strings.Contains(line, label) {
			n++
		}
	})
	return n, err
}

func scrapeLines(ctx context.Context, addr string, f func(string)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			f(line)
		}
	}
	return sc.Err()
}

func dropMongoDatabase(uri, db string) {
	mc, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return
	}
	_ = mc.Database(db).Drop(context.Background())
	_ = mc.Disconnect(context.Background())
}
