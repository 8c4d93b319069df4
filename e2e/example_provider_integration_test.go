package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/testinfra"
)

// TestOutOfTreeProvider builds examples/acme-provider as a provider team would, in its own
// module with the workspace off (GOWORK=off, only replaces to this repository), runs its
// tests (the conformance suite, with JetStream inside the test: no servers), then runs its
// own extractor binary in the pipeline and checks the exact rows in PostgreSQL.
func TestOutOfTreeProvider(t *testing.T) {
	env := testinfra.Require(t, testinfra.Postgres, testinfra.Mongo, testinfra.S3)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	wd, _ := os.Getwd()
	root, err := testinfra.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	module := filepath.Join(root, "examples", "acme-provider")
	bin := testinfra.Binaries(t, "sluice-staging-store", "sluice-transformer", "sluice-loader", "sluice")
	goCmd := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = module
		cmd.Env = append(os.Environ(), "GOWORK=off", "SLUICE_TEST_NATS=embedded")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s in examples/acme-provider: %v\n%s\n(when sluice's dependencies changed: cd examples/acme-provider && GOWORK=off go mod tidy)", strings.Join(args, " "), err, out)
		}
	}
	goCmd("test", "-count=1", "./...")
	goCmd("build", "-o", filepath.Join(bin, "sluice-extractor"), "./cmd/acme-extractor")

	const days, meters = 3, 4
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		date := r.URL.Query().Get("date")
		var rows []string
		for m := range meters {
			rows = append(rows, fmt.Sprintf(`{"meter":"m-%d","hour":"%sT%02d:00:00Z","kwh":%d.25,"site":"plant-a"}`, m, date, m, m))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"readings":[%s]}`, strings.Join(rows, ","))
	}))
	defer api.Close()
	p := startProviderPipeline(t, ctx, env, bin, "acme", map[string]any{"base_url": api.URL, "requests_per_second": 50})
	to := time.Now().UTC().AddDate(0, 0, -1)
	from := to.AddDate(0, 0, 1-days)
	if out, errOut, err := p.sluice(ctx, "run", "acme", "--from", from.Format(time.DateOnly), "--to", to.Format(time.DateOnly)); err != nil {
		t.Fatalf("sluice run acme: %v\n%s%s", err, out, errOut)
	}
	if n, err := harness.WaitRows(ctx, p.pool, "acme_readings", days*meters, 2*time.Minute); err != nil {
		t.Fatalf("%v (%d rows)", err, n)
	}
	var sum string
	if err := p.pool.QueryRow(ctx, "SELECT sum(kwh)::text FROM acme_readings WHERE site = 'plant-a'").Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%.2f", float64(days)*(0.25*meters+float64(meters*(meters-1)/2))); sum != want {
		t.Errorf("sum of kwh = %s, want %s", sum, want)
	}
}
