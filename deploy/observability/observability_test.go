package observability

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestMetricNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sum by (provider) (rate(sluice_extract_records_total{provider=~"$provider"}[$__rate_interval]))`, []string{"sluice_extract_records_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(sluice_load_batch_duration_seconds_bucket[5m])))`, []string{"sluice_load_batch_duration_seconds_bucket"}},
		{`a / on (x) group_left (y, z) b`, []string{"a", "b"}},
		{`sum(x) without (instance) > bool 3`, []string{"x"}},
		{`max by (a, b) (m1) > 1000 and max by (a, b) (deriv(m1[15m])) > 0`, []string{"m1"}},
		{`label_replace(m{l="a)b"}, "dst", "$1", "src", "(.*)")`, []string{"m"}},
		{`rate(m[5m:1m] offset 1h) * 60 + 1e3 + 0x1f + .5 + Inf - NaN`, []string{"m"}},
		{"sum(rate(recorded:rule:rate5m[${__range}])) # a comment naming nothing", []string{"recorded:rule:rate5m"}},
		{`sluice_a{x="}"} or sluice_b * 0`, []string{"sluice_a", "sluice_b"}},
	}
	for _, tt := range tests {
		got, err := MetricNames(tt.expr)
		if err != nil {
			t.Errorf("MetricNames(%q): %v", tt.expr, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("MetricNames(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

func TestMetricNamesErrors(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{`sum(m`, `m)`, `m{a="b"`, `m[5m`, `m{a="b}`, `m}`} {
		if got, err := MetricNames(expr); err == nil {
			t.Errorf("MetricNames(%q) = %v, want an error", expr, got)
		}
	}
}

// The dashboard answers the questions an operator asks: throughput and lag per stage,
// 429s and quota use per provider, dead letters, load latency.
func TestDashboard(t *testing.T) {
	t.Parallel()
	d, err := ParseDashboard(DashboardJSON)
	if err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Fatalf("dashboard uid %q title %q schemaVersion %d: want all set, schema ≥ 36", d.UID, d.Title, d.SchemaVersion)
	}
	ids := map[int]string{}
	var titles []string
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup || p.ID == 0 {
				t.Errorf("panel %q: id %d missing or shared with %q", p.Title, p.ID, prev)
			}
			ids[p.ID] = p.Title
			if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, p := range d.AllPanels() {
		titles = append(titles, p.Title)
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names, err := MetricNames(tg.Expr)
			if err != nil || len(names) == 0 {
				t.Errorf("panel %q target %s: %q selects no metric (%v)", p.Title, tg.RefID, tg.Expr, err)
			}
		}
	}
	for _, want := range []string{
		"Records per second by stage", "Rows per second by stage", "Consumer lag",
		"HTTP 429 responses per provider", "Quota utilization", "Dead letters per minute",
		"Dead letters accumulated", "Load batch latency",
	} {
		if !slices.ContainsFunc(titles, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("no panel titled %q…; panels: %q", want, titles)
		}
	}
	metrics, err := d.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sluice_consumer_pending", "sluice_apiclient_throttled_total", "sluice_ratelimit_utilization_ratio",
		"sluice_dlq_published_total", "sluice_load_batch_duration_seconds_bucket"} {
		if !slices.Contains(metrics, want) {
			t.Errorf("dashboard does not query %s; it queries %v", want, metrics)
		}
	}
}

func TestRules(t *testing.T) {
	t.Parallel()
	f, err := ParseRules(RulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: want a severity label and summary and description annotations", r.Alert)
			}
			if names, err := MetricNames(r.Expr); err != nil || len(names) == 0 {
				t.Errorf("alert %s: %q selects no metric (%v)", r.Alert, r.Expr, err)
			}
		}
	}
	for _, want := range []string{"SluiceConsumerLagGrowing", "SluiceDeadLettersGrowing", "SluiceDLQFilling", "SluiceStagePaused", "SluiceQuotaSaturated", "SluiceProviderFailing"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s; alerts: %v", want, alerts)
		}
	}
}

// TestPromtool checks the rules, runs their unit tests (prometheus-rules.test.yaml) and
// checks the syntax of every dashboard query, with the real PromQL parser of promtool.
func TestPromtool(t *testing.T) {
	promtool := os.Getenv("SLUICE_PROMTOOL") // set by deploy/local/k8s-tools.sh env
	if promtool == "" {
		var err error
		if promtool, err = exec.LookPath("promtool"); err != nil {
			if os.Getenv("SLUICE_INTEGRATION") != "" {
				t.Fatal("promtool not found: run `bash deploy/local/k8s-tools.sh up` (make test does)")
			}
			t.Skip("promtool not installed: `bash deploy/local/k8s-tools.sh up` installs it; PromQL syntax unchecked")
		}
	}
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("check", "rules", "prometheus-rules.yaml")
	run("test", "rules", "prometheus-rules.test.yaml")

	// Dashboard queries as recording rules, Grafana's variables replaced by values.
	d, err := ParseDashboard(DashboardJSON)
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "1m", "$__range", "6h", "$provider", ".*")
	var rules []map[string]string
	for _, p := range d.AllPanels() {
		for _, tg := range p.Targets {
			rules = append(rules, map[string]string{"record": "dashboard:query", "expr": vars.Replace(tg.Expr)})
		}
	}
	data, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	run("check", "rules", path)
}
