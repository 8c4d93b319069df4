package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The binaries and the private servers are shared by the tests of this package.
var (
	setupOnce sync.Once
	binDir    string
	deps      *Deps
	setupErr  error
	workDir   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if deps != nil {
		deps.Close()
	}
	if workDir != "" && code == 0 {
		os.RemoveAll(workDir)
	}
	os.Exit(code)
}

// setup skips under -short, and skips (or, under SLUICE_INTEGRATION=1, fails) when the
// server binaries are missing; it builds the services and starts the private servers once.
func setup(t *testing.T) (string, *Deps) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if miss := MissingServers(); len(miss) > 0 {
		msg := fmt.Sprintf("chaos trials need %s; install them with `make infra-up` (deploy/local/infra.sh up)", strings.Join(miss, ", "))
		if os.Getenv("SLUICE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	setupOnce.Do(func() {
		if workDir, setupErr = os.MkdirTemp("", "sluice-chaos"); setupErr != nil {
			return
		}
		binDir = filepath.Join(workDir, "bin")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if setupErr = Build(ctx, binDir); setupErr != nil {
			return
		}
		deps, setupErr = StartDeps(ctx, filepath.Join(workDir, "deps"))
	})
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return binDir, deps
}

// small is the job of a short trial: about 6 reportable profiles, 3 days, 9 rows per
// profile and day.
var small = Scale{Profiles: 8, Days: 3, Campaigns: 3, AdGroups: 2}

func options(t *testing.T, bin string) Options {
	return Options{Bin: bin, Dir: filepath.Join(workDir, "trials", strings.ReplaceAll(t.Name(), "/", "_")), Scale: small,
		Replicas: 2, ProviderFaults: true, Logf: t.Logf}
}

func report(t *testing.T, r Result) {
	t.Helper()
	t.Logf("%s", r)
	t.Logf("provider: %s", r.Provider)
	for _, s := range r.Samples {
		t.Logf("  %s", s)
	}
	if !r.OK() {
		t.Errorf("trial %s failed: %s (work dir %s kept)", r.Scenario, r.Exactness, workDir)
	}
}

// TestKillTrial: with provider faults on, random replicas of every service are killed with
// SIGKILL and restarted; PostgreSQL ends with exactly the simulator's rows, no report is
// requested twice and nothing is dead-lettered.
func TestKillTrial(t *testing.T) {
	bin, deps := setup(t)
	report(t, Run(context.Background(), deps, options(t, bin), Kills(5), 6*time.Minute))
}

// outageFor is how long a dependency stays down in the short variant (CHAOS_OUTAGE
// overrides it; `make chaos` uses minutes).
func outageFor(t *testing.T) time.Duration {
	if v := os.Getenv("CHAOS_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CHAOS_OUTAGE: %v", err)
		}
		return d
	}
	return 30 * time.Second
}

// TestDependencyRestarts: NATS, PostgreSQL, the MongoDB-wire server and the S3 server are
// each stopped mid-run and started again; nothing is lost or dead-lettered, the stages that
// need the dependency resume within 30 s of its return and memory stays bounded.
func TestDependencyRestarts(t *testing.T) {
	bin, deps := setup(t)
	down := outageFor(t)
	for _, dep := range []string{"nats", "postgres", "mongo", "s3"} {
		t.Run(dep, func(t *testing.T) {
			o := options(t, bin)
			o.ReportLatency = 2 * time.Second // keep work flowing through the outage
			o.Scale.Profiles = 16
			report(t, Run(context.Background(), deps, o, Outage(dep, down), down+6*time.Minute))
		})
	}
}

// TestClusterNodeLoss: on a 3-node JetStream cluster with R3 streams, one node is killed
// mid-run and stays down; the pipeline carries on to the exact result, and the streams
// keep their three replicas (services starting must not shrink them).
func TestClusterNodeLoss(t *testing.T) {
	bin, deps := setup(t)
	o := options(t, bin)
	o.NATSNodes = 3
	report(t, Run(context.Background(), deps, o, NodeLoss(false), 5*time.Minute))
}

// TestSigtermUnderLoad: every service has a replica stopped with SIGTERM while work flows
// (provider faults off, so every redelivery is the shutdown's); each exits cleanly, no
// delivery is spent by a nak, no message is delivered more than twice, the result is exact.
func TestSigtermUnderLoad(t *testing.T) {
	bin, deps := setup(t)
	o := options(t, bin)
	o.ProviderFaults = false
	o.ReportLatency = 3 * time.Second // reports keep arriving while the services are stopped
	o.Scale.Profiles, o.Scale.Days = 40, 7
	report(t, Run(context.Background(), deps, o, Sigterms(2), 6*time.Minute))
}
