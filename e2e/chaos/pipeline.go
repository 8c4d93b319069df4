package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

// Service kinds, in pipeline order.
const (
	Extractor    = "extractor"
	StagingStore = "staging-store"
	Transformer  = "transformer"
	Loader       = "loader"
)

// Kinds are the services a trial runs.
var Kinds = []string{Extractor, StagingStore, Transformer, Loader}

// binaryOf maps a service kind to its binary (see testinfra.BinaryPackages).
var binaryOf = map[string]string{
	Extractor: "sluice-extractor", StagingStore: "sluice-staging-store",
	Transformer: "sluice-transformer", Loader: "sluice-loader",
}

// Build compiles the four service binaries into dir.
func Build(ctx context.Context, dir string) error {
	root, err := testinfra.RepoRoot(".")
	if err != nil {
		return err
	}
	return testinfra.Build(ctx, root, dir, binaryOf[Extractor], binaryOf[StagingStore], binaryOf[Transformer], binaryOf[Loader])
}

// Scale sizes a trial's job: profiles × days × (campaigns + campaigns × ad groups) rows.
type Scale struct {
	Profiles  int
	Days      int
	Campaigns int
	AdGroups  int
}

// Options configure one pipeline run.
type Options struct {
	// Bin holds the service binaries (Build); Dir receives logs and configs.
	Bin, Dir string
	Scale    Scale
	// Replicas of each service.
	Replicas int
	// ProviderFaults turns the simulator's faults on (see FaultyProvider).
	ProviderFaults bool
	// ReportLatency is the median time the simulator takes to generate a report.
	ReportLatency time.Duration
	// InlineLimit is the extractor's --inline-limit: records above it travel as S3 claim
	// checks, so the S3 server is on the path.
	InlineLimit int
	// NATSNodes is 1, or 3 for a cluster with replicated (R3) streams.
	NATSNodes int
	Seed      uint64
	Logf      func(format string, args ...any)
}

func (o *Options) defaults() {
	if o.Replicas == 0 {
		o.Replicas = 2
	}
	if o.NATSNodes == 0 {
		o.NATSNodes = 1
	}
	if o.InlineLimit == 0 {
		o.InlineLimit = 3000
	}
	if o.ReportLatency == 0 {
		o.ReportLatency = 500 * time.Millisecond
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// SimConfig is the simulator configuration of a trial: small entities, quick reports, no
// report failures (so "requested twice" is exact); with faults when asked.
func SimConfig(o Options) sim.Config {
	c := sim.DefaultConfig()
	c.Seed = o.Seed
	c.Profiles.Count, c.Profiles.AgencyShare, c.Profiles.VendorShare = o.Scale.Profiles, 0.1, 0.2
	c.Data.CampaignsPerProfile, c.Data.AdGroupsPerCampaign = o.Scale.Campaigns, o.Scale.AdGroups
	c.Reports.LatencyMedian, c.Reports.LatencyMax = o.ReportLatency, 4*o.ReportLatency
	c.Reports.StuckRate, c.Reports.FailureRate = 0, 0
	c.Throttle = sim.ThrottleConfig{}
	if o.ProviderFaults {
		FaultyProvider(&c)
	}
	return c
}

// FaultyProvider turns on every fault the simulator has, at the rates: 10% 5xx,
// 5% timeouts, 5% trickled (stalling) bodies, 2% truncated gzip downloads, 429 storms on
// create and status with and without Retry-After (limits far below the provider's
// configured quotas), download urls that expire within seconds, and short-lived tokens.
func FaultyProvider(c *sim.Config) {
	c.Faults.ServerErrorRate = 0.10
	c.Faults.TimeoutRate, c.Faults.TimeoutAfter = 0.05, 3*time.Second
	c.Faults.SlowBodyRate, c.Faults.SlowChunkBytes, c.Faults.SlowChunkInterval = 0.05, 256, 250*time.Millisecond
	c.Faults.TruncateRate = 0.02
	c.Throttle.Create = sim.Limit{ClientRate: 3, ClientBurst: 2, NoRetryAfterRate: 0.5}
	c.Throttle.Status = sim.Limit{ClientRate: 8, ClientBurst: 4, NoRetryAfterRate: 0.3}
	c.Reports.URLTTL = 2 * time.Second
	c.Auth.TokenTTL = 30 * time.Second
}

// providerConfig points the amazonads provider at the simulator, with fast polls and
// retries and quotas above what a faulty simulator allows (so it meets 429s).
func providerConfig(simURL string) *amazonads.Config {
	c := amazonads.DefaultConfig()
	c.APIURL, c.TokenURL = simURL, simURL+"/auth/o2/token"
	c.Poll = amazonads.Poll{Initial: amazonads.Duration(200 * time.Millisecond), Max: amazonads.Duration(time.Second), Multiplier: 1.5, Jitter: 0.5}
	c.Retry.InitialBackoff, c.Retry.MaxBackoff = amazonads.Duration(50*time.Millisecond), amazonads.Duration(2*time.Second)
	c.Retry.MaxAttempts = 12
	c.Records.MaxRows = 10
	c.MaxDownloadAttempts = 8
	c.Limits.DownloadConcurrency = 0
	c.Limits.Quotas[amazonads.ClassCreate] = amazonads.Quota{Rate: 12}
	c.Limits.Quotas[amazonads.ClassStatus] = amazonads.Quota{Rate: 30}
	return c
}

// Service is one replica of a service.
type Service struct {
	Kind, Name string
	// HTTPAddr serves /healthz, /readyz and /metrics.
	HTTPAddr string
	bin      string
	args     []string
	env      []string
	logDir   string

	mu       sync.Mutex
	proc     *testinfra.Proc
	Restarts int
	// held is set while the harness has stopped the replica on purpose, so the
	// supervisor leaves it down.
	held bool
}

// Start (re)starts the replica.
func (s *Service) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := testinfra.StartProc(s.Name, s.bin, s.args, s.env, s.logDir)
	if err != nil {
		return err
	}
	if s.proc != nil {
		s.Restarts++
	}
	s.proc, s.held = p, false
	return nil
}

// Kill ends the replica with SIGKILL and leaves it down until Start.
func (s *Service) Kill() {
	s.mu.Lock()
	s.held = true
	p := s.proc
	s.mu.Unlock()
	p.Kill()
}

// Stop sends SIGTERM and waits up to timeout (then kills), leaving it down until Start.
func (s *Service) Stop(timeout time.Duration) error {
	s.mu.Lock()
	s.held = true
	p := s.proc
	s.mu.Unlock()
	return p.Stop(timeout)
}

// restartIfCrashed starts the replica again when it exited without the harness stopping it,
// as Kubernetes would, and returns how it had ended.
func (s *Service) restartIfCrashed() (string, bool) {
	s.mu.Lock()
	p, held := s.proc, s.held
	s.mu.Unlock()
	exited, err := p.Exited()
	if held || !exited {
		return "", false
	}
	last := strings.TrimSpace(p.Tail(600))
	if i := strings.LastIndex(last, "\n"); i >= 0 {
		last = last[i+1:]
	}
	if serr := s.Start(); serr != nil {
		return fmt.Sprintf("%s exited (%v) and did not restart: %v", s.Name, err, serr), true
	}
	return fmt.Sprintf("%s exited on its own (%v), restarted; last log line: %s", s.Name, err, last), true
}

// Proc is the current process.
func (s *Service) Proc() *testinfra.Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// Pipeline is the running system of one trial.
type Pipeline struct {
	Opts     Options
	Deps     *Deps
	NATS     *NATS
	Sim      *sim.Server
	SimCfg   sim.Config
	Services []*Service
	Tap      *Tap
	JS       jetstream.JetStream
	NC       *nats.Conn
	PGURL    string // the trial's database
	From, To time.Time

	db, mongoDB string
	simStop     func()

	superStop func()
	mu        sync.Mutex
	crashes   []string
}

// supervise restarts crashed replicas every second until stopped.
func (p *Pipeline) supervise() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.superStop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			for _, s := range p.Services {
				if msg, crashed := s.restartIfCrashed(); crashed {
					p.mu.Lock()
					p.crashes = append(p.crashes, msg)
					p.mu.Unlock()
					p.Opts.Logf("  %s", msg)
				}
			}
		}
	}()
}

// Crashes lists the replicas that exited without being told to.
func (p *Pipeline) Crashes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.crashes...)
}

// tablesOf maps report types to the tables their rows land in.
var tablesOf = map[string]string{
	amazonads.ReportSPCampaigns: "amazonads_sp_campaigns",
	amazonads.ReportSPAdGroups:  "amazonads_sp_ad_groups",
}

// Start brings up a trial's NATS (single node or cluster), its databases, the simulator and
// every service replica, and publishes the run's plan task.
func Start(ctx context.Context, deps *Deps, o Options) (*Pipeline, error) {
	o.defaults()
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	p := &Pipeline{Opts: o, Deps: deps}
	ok := false
	defer func() {
		if !ok {
			p.Close()
		}
	}()
	suffix := strconv.FormatUint(o.Seed%1e9, 36)
	p.db, p.mongoDB = "chaos_"+suffix, "chaos_"+suffix
	var err error
	if p.PGURL, err = harness.CreateDatabase(ctx, deps.PostgresURL, p.db); err != nil {
		return nil, err
	}
	// A trial starts from empty streams: a store left by an earlier trial of the same name
	// (go test -count) holds its tasks, which name another seed's profiles.
	if err := os.RemoveAll(filepath.Join(o.Dir, "nats")); err != nil {
		return nil, err
	}
	if p.NATS, err = NewNATS(filepath.Join(o.Dir, "nats"), o.NATSNodes); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "nats"), 0o755); err != nil {
		return nil, err
	}
	if err := p.NATS.Start(ctx); err != nil {
		return nil, err
	}
	p.NC, err = nats.Connect(p.NATS.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		return nil, err
	}
	if p.JS, err = jetstream.New(p.NC); err != nil {
		return nil, err
	}
	pc := bus.DefaultProvision()
	if o.NATSNodes > 1 {
		pc.Replicas = 3
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = bus.Provision(pctx, p.JS, pc)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("provision: %w", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if p.Tap, err = StartTap(p.NC); err != nil {
		return nil, err
	}

	p.SimCfg = SimConfig(o)
	srv, err := sim.New(p.SimCfg, sim.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, scancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(sctx, ln) }()
	p.Sim = srv
	p.simStop = func() { srv.Close(); scancel(); <-done }
	simURL := "http://" + ln.Addr().String()

	cfgPath := filepath.Join(o.Dir, "amazonads-config.json")
	data, err := json.Marshal(providerConfig(simURL))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		return nil, err
	}
	cred := p.SimCfg.Auth.Clients[0]
	for _, kind := range Kinds {
		for i := range o.Replicas {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			s := &Service{Kind: kind, Name: fmt.Sprintf("%s-%d", kind, i+1), HTTPAddr: fmt.Sprintf("127.0.0.1:%d", port),
				bin: filepath.Join(o.Bin, binaryOf[kind]), logDir: filepath.Join(o.Dir, "logs")}
			s.env = append(p.commonEnv(), "SLUICE_HTTP_ADDR="+s.HTTPAddr, "HOSTNAME="+s.Name)
			switch kind {
			case Extractor:
				s.env = append(s.env, amazonads.EnvClientID+"="+cred.ClientID, amazonads.EnvClientSecret+"="+cred.ClientSecret,
					amazonads.EnvRefreshToken+"="+cred.RefreshToken)
				s.args = []string{"--egress-allow-hosts=127.0.0.1,localhost", "--egress-allow-http", "--egress-allow-private", "--provider", "amazonads", "--provider-config", cfgPath, "--ack-wait", "5s", "--workers", "8",
					"--job-claim-ttl", "3s", "--inline-limit", strconv.Itoa(o.InlineLimit)}
			default:
				s.args = []string{"--ack-wait", "10s"}
			}
			if err := s.Start(); err != nil {
				return nil, err
			}
			p.Services = append(p.Services, s)
		}
	}
	for _, s := range p.Services {
		if err := waitReady(ctx, s, 60*time.Second); err != nil {
			return nil, err
		}
	}
	p.supervise()
	p.From, p.To = day(-o.Scale.Days-1), day(-2)
	msg, err := provider.PlanMessage("amazonads", provider.Trigger{RunID: "chaos-" + suffix, Source: "cli", From: p.From, To: p.To})
	if err != nil {
		return nil, err
	}
	if _, err := bus.Publish(ctx, p.JS, msg); err != nil {
		return nil, fmt.Errorf("publish plan: %w", err)
	}
	ok = true
	return p, nil
}

func (p *Pipeline) commonEnv() []string {
	replicas := "1"
	if p.Opts.NATSNodes > 1 {
		replicas = "3"
	}
	return []string{
		// What `sluice provision --replicas` reads; services that provision at start must
		// use it too rather than shrink a cluster's streams to one replica.
		"SLUICE_STREAM_REPLICAS=" + replicas,
		"SLUICE_NATS_URL=" + p.NATS.URL(), "SLUICE_LOG_FORMAT=text", "SLUICE_OTLP_ENDPOINT=",
		"SLUICE_POSTGRES_URL=" + p.PGURL,
		"SLUICE_MONGO_URI=" + p.Deps.MongoURI, "SLUICE_MONGO_DATABASE=" + p.mongoDB,
		"SLUICE_S3_ENDPOINT=" + p.Deps.S3Endpoint, "SLUICE_S3_ACCESS_KEY=" + S3AccessKey,
		"SLUICE_S3_SECRET_KEY=" + S3SecretKey, "SLUICE_S3_REGION=us-east-1", "SLUICE_S3_BUCKET=" + strings.ReplaceAll(p.db, "_", "-"),
		"SLUICE_SHUTDOWN_TIMEOUT=10s",
	}
}

func day(offset int) time.Time {
	y, m, d := time.Now().UTC().AddDate(0, 0, offset).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Of returns the replicas of kind.
func (p *Pipeline) Of(kind string) []*Service {
	var out []*Service
	for _, s := range p.Services {
		if s.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

// Logs returns the tail of every replica's log, for a failure message.
func (p *Pipeline) Logs(n int64) string {
	var b strings.Builder
	for _, s := range p.Services {
		fmt.Fprintf(&b, "--- %s:\n%s\n", s.Name, s.Proc().Tail(n))
	}
	return b.String()
}

func waitReady(ctx context.Context, s *Service, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if exited, err := s.Proc().Exited(); exited {
			return fmt.Errorf("%s exited during start (%v):\n%s", s.Name, err, s.Proc().Tail(3000))
		}
		if httpReady("http://"+s.HTTPAddr+"/readyz")(ctx) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v:\n%s", s.Name, timeout, s.Proc().Tail(3000))
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// Close stops the services, the simulator and NATS, and drops the trial's database.
func (p *Pipeline) Close() {
	if p.superStop != nil {
		p.superStop()
	}
	var wg sync.WaitGroup
	for _, s := range p.Services {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Stop(15 * time.Second) }()
	}
	wg.Wait()
	if p.Tap != nil {
		p.Tap.Stop()
	}
	if p.NC != nil {
		p.NC.Close()
	}
	if p.simStop != nil {
		p.simStop()
	}
	if p.NATS != nil {
		p.NATS.Stop()
	}
	if p.db != "" && p.Deps.Postgres.Running() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_ = harness.DropDatabase(ctx, p.Deps.PostgresURL, p.db)
		cancel()
	}
}
