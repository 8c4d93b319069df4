package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/staging"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

// binaries are built once per test binary.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := testinfra.RepoRoot(".")
		if err != nil {
			buildErr = err
			return
		}
		abs, _ := filepath.Abs(root)
		binDir, buildErr = os.MkdirTemp("", "sluice-e2e-bin")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		buildErr = testinfra.Build(ctx, abs, binDir, "sluice-extractor", "sluice-staging-store")
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// env is one test's world: a private NATS server, a unique Mongo database, the
// simulator in process on a real port, and the processes the test starts.
type env struct {
	t       *testing.T
	infra   testinfra.Env
	natsURL string
	db      string
	sim     *sim.Server
	scfg    sim.Config
	simURL  string
	js      jetstream.JetStream
	logDir  string
	procs   []*testinfra.Proc
	mongo   *mongo.Client
}

func newEnv(t *testing.T, scfg sim.Config) *env {
	t.Helper()
	infra := testinfra.Require(t, testinfra.Mongo, testinfra.S3)
	natsURL := testinfra.PrivateNATS(t)
	bin := binaries(t)
	_ = bin
	e := &env{t: t, infra: infra, natsURL: natsURL, scfg: scfg, logDir: t.TempDir(),
		db: fmt.Sprintf("e2e_%s_%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_")), time.Now().UnixNano()%1e9)}

	srv, err := sim.New(scfg, sim.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln) }()
	e.sim, e.simURL = srv, "http://"+ln.Addr().String()

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	if e.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	if err := bus.Provision(context.Background(), e.js, bus.DefaultProvision()); err != nil {
		t.Fatal(err)
	}
	if e.mongo, err = mongo.Connect(options.Client().ApplyURI(infra.MongoURI)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range e.procs {
			if err := p.Stop(20 * time.Second); err != nil && !strings.Contains(err.Error(), "killed") {
				t.Logf("%s: %v", p.Name, err)
			}
			if t.Failed() {
				t.Logf("--- %s log (tail):\n%s", p.Name, p.Tail(3000))
			}
		}
		srv.Close()
		cancel()
		<-done
		_ = e.mongo.Database(e.db).Drop(context.Background())
		_ = e.mongo.Disconnect(context.Background())
		nc.Close()
	})
	return e
}

// providerConfig is the amazonads configuration pointed at the simulator, with fast
// polling and retries; change it before starting extractors.
func (e *env) providerConfig() *amazonads.Config {
	c := amazonads.DefaultConfig()
	c.APIURL, c.TokenURL = e.simURL, e.simURL+"/auth/o2/token"
	c.Poll = amazonads.Poll{Initial: amazonads.Duration(100 * time.Millisecond), Max: amazonads.Duration(500 * time.Millisecond), Multiplier: 1.5, Jitter: 0.5}
	c.Retry.InitialBackoff, c.Retry.MaxBackoff = amazonads.Duration(50*time.Millisecond), amazonads.Duration(2*time.Second)
	c.Records.MaxRows = 10
	c.Limits.DownloadConcurrency = 0
	return c
}

func (e *env) common() []string {
	return []string{
		"SLUICE_NATS_URL=" + e.natsURL, "SLUICE_HTTP_ADDR=127.0.0.1:0", "SLUICE_LOG_FORMAT=text",
		"SLUICE_MONGO_URI=" + e.infra.MongoURI, "SLUICE_MONGO_DATABASE=" + e.db,
		"SLUICE_S3_ENDPOINT=" + e.infra.S3Endpoint, "SLUICE_S3_ACCESS_KEY=" + e.infra.S3AccessKey,
		"SLUICE_S3_SECRET_KEY=" + e.infra.S3SecretKey, "SLUICE_S3_REGION=" + e.infra.S3Region,
		"SLUICE_OTLP_ENDPOINT=", "SLUICE_SHUTDOWN_TIMEOUT=5s",
	}
}

// extractor starts an amazonads extractor process named name with cfg.
func (e *env) extractor(name string, cfg *amazonads.Config, args ...string) *testinfra.Proc {
	e.t.Helper()
	path := filepath.Join(e.logDir, name+"-config.json")
	data, err := json.Marshal(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		e.t.Fatal(err)
	}
	cred := e.scfg.Auth.Clients[0]
	envv := append(e.common(),
		amazonads.EnvClientID+"="+cred.ClientID, amazonads.EnvClientSecret+"="+cred.ClientSecret,
		amazonads.EnvRefreshToken+"="+cred.RefreshToken, "HOSTNAME="+name)
	all := append([]string{"--egress-allow-hosts=127.0.0.1,localhost", "--egress-allow-http", "--egress-allow-private", "--provider", "amazonads", "--provider-config", path, "--ack-wait", "5s", "--workers", "16"}, args...)
	p, err := testinfra.StartProc(name, filepath.Join(binDir, "sluice-extractor"), all, envv, e.logDir)
	if err != nil {
		e.t.Fatal(err)
	}
	e.procs = append(e.procs, p)
	return p
}

// staging starts the staging-store.
func (e *env) staging() *testinfra.Proc {
	e.t.Helper()
	p, err := testinfra.StartProc("staging-store", filepath.Join(binDir, "sluice-staging-store"), []string{"--ack-wait", "10s"}, e.common(), e.logDir)
	if err != nil {
		e.t.Fatal(err)
	}
	e.procs = append(e.procs, p)
	return p
}

// plan publishes the plan task of a CLI run, as `sluice run amazonads` does.
func (e *env) plan(runID string, from, to time.Time) {
	e.t.Helper()
	msg, err := provider.PlanMessage("amazonads", provider.Trigger{RunID: runID, Source: "cli", From: from, To: to})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := bus.Publish(context.Background(), e.js, msg); err != nil {
		e.t.Fatal(err)
	}
}

// staged recomputes the simulator's summary from the payload rows of the staged
// documents of dataset.
func (e *env) staged(ctx context.Context, dataset string) (sim.Summary, int, error) {
	cur, err := e.mongo.Database(e.db).Collection("raw_amazonads").Find(ctx, bson.D{{Key: "dataset", Value: dataset}})
	if err != nil {
		return sim.Summary{}, 0, err
	}
	defer cur.Close(ctx)
	var s sim.Summary
	docs := 0
	for cur.Next(ctx) {
		var d staging.Document
		if err := cur.Decode(&d); err != nil {
			return s, docs, err
		}
		if d.S3Key != "" {
			return s, docs, fmt.Errorf("document %s is a claim check; the test sizes records to stay inline", d.ID)
		}
		dec := json.NewDecoder(bytes.NewReader(d.Payload))
		dec.UseNumber()
		var rows []map[string]any
		if err := dec.Decode(&rows); err != nil {
			return s, docs, fmt.Errorf("document %s: %w", d.ID, err)
		}
		for _, r := range rows {
			s.Add(r)
		}
		docs++
	}
	return s, docs, cur.Err()
}

// expected is the simulator's summary for a report type over from..to.
func (e *env) expected(reportType string, from, to time.Time) sim.Summary {
	e.t.Helper()
	s, err := sim.Expected(e.scfg, sim.Profiles(e.scfg), reportType, amazonads.Columns(reportType), from, to)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// waitStaged waits until the staged rows of every report type match the simulator's
// expectation, failing with the last difference after timeout. check runs on every
// round (e.g. to fail fast when a process died).
func (e *env) waitStaged(timeout time.Duration, from, to time.Time, reportTypes ...string) {
	e.t.Helper()
	want := map[string]sim.Summary{}
	for _, rt := range reportTypes {
		want[amazonads.Dataset(rt)] = e.expected(rt, from, to)
	}
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		diff := ""
		for ds, w := range want {
			got, docs, err := e.staged(ctx, ds)
			if err != nil {
				e.t.Fatal(err)
			}
			if got != w {
				diff += fmt.Sprintf(" %s: staged %+v in %d documents, want %+v;", ds, got, docs, w)
			}
		}
		cancel()
		if diff == "" {
			return
		}
		for _, p := range e.procs {
			if exited, err := p.Exited(); exited && !strings.HasPrefix(p.Name, "killed") {
				e.t.Fatalf("%s exited (%v) while waiting for rows:%s", p.Name, err, diff)
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("rows not all staged after %v:%s", timeout, diff)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// quickSim is a small, fast simulator: reports ready in a fraction of a second, no
// faults, no throttling except what a test sets.
func quickSim(profiles int) sim.Config {
	c := sim.DefaultConfig()
	c.Seed = uint64(time.Now().UnixNano())
	c.Profiles.Count, c.Profiles.AgencyShare = profiles, 0.2
	c.Data.CampaignsPerProfile, c.Data.AdGroupsPerCampaign = 3, 2
	c.Reports.LatencyMedian, c.Reports.LatencyMax = 200*time.Millisecond, time.Second
	c.Reports.StuckRate, c.Reports.FailureRate = 0, 0
	c.Throttle = sim.ThrottleConfig{}
	return c
}

func day(offset int) time.Time {
	y, m, d := time.Now().UTC().AddDate(0, 0, offset).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// reportable counts the profiles reports can be requested for.
func reportable(c sim.Config) int {
	n := 0
	for _, p := range sim.Profiles(c) {
		if p.Reportable() {
			n++
		}
	}
	return n
}
