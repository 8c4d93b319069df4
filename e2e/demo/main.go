// Command demo runs sluice's seed job once on the local real servers: the Amazon Ads
// provider extracts a month of daily campaign reports for a few hundred advertiser
// profiles from the simulator (throttling and faults on), and the four services stage,
// transform and load them into PostgreSQL. It shows progress while it runs and a summary
// at the end. `make demo` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/clicontext"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
)

const demoTable = "amazonads_sp_campaigns"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	var job demoJob
	flag.IntVar(&job.profiles, "profiles", 300, "advertiser profiles in the simulator (a tenth are agencies, which have no reports)")
	flag.IntVar(&job.days, "days", 30, "days of daily reports to extract (one report per profile, at most 31)")
	flag.Float64Var(&job.quota, "quota", 20, "the API's quota in calls per second, shared by every call of the run")
	binDir := flag.String("bin", "bin", "directory of the service binaries (built by make build)")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up when the rows are not all loaded by then")
	demoDB := flag.String("database", "sluice_demo", "PostgreSQL database and document store database the demo (re)creates")
	natsURL := flag.String("nats-url", "", "NATS server (default: the local servers'); its streams are reset")
	flag.Parse()
	if job.profiles < 1 || job.days < 1 || job.days > 31 || job.quota <= 0 {
		return fmt.Errorf("--profiles must be ≥ 1, --days 1..31 and --quota > 0")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	env := testinfra.Load()
	if *natsURL != "" {
		env.NATSURL = *natsURL
	}
	root, err := testinfra.RepoRoot(".")
	if err != nil {
		return err
	}
	bin := *binDir
	if !filepath.IsAbs(bin) {
		bin = filepath.Join(root, bin)
	}
	scfg := job.simConfig()
	want, err := job.expectedRows(scfg)
	if err != nil {
		return err
	}
	srv, api, err := startSim(ctx, scfg)
	if err != nil {
		return err
	}

	fmt.Printf("demo: resetting streams on %s, database %s and document store %s\n", env.NATSURL, *demoDB, *demoDB)
	if err := resetStreams(ctx, env.NATSURL); err != nil {
		return err
	}
	pgURL, err := harness.CreateDatabase(ctx, env.PostgresURL, *demoDB)
	if err != nil {
		return err
	}
	mc, err := mongo.Connect(options.Client().ApplyURI(env.MongoURI).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		return err
	}
	defer mc.Disconnect(context.Background()) //nolint:errcheck
	if err := mc.Database(*demoDB).Drop(ctx); err != nil {
		return fmt.Errorf("reset document store at %s: %w (start the servers with make infra-up)", env.MongoURI, err)
	}

	logDir := filepath.Join(root, ".demo", "logs")
	_ = os.RemoveAll(logDir)
	cred := scfg.Auth.Clients[0]
	svc, err := harness.Start(harness.Config{
		Bin: bin, LogDir: logDir, NATSURL: env.NATSURL, PostgresURL: pgURL,
		MongoURI: env.MongoURI, MongoDatabase: *demoDB,
		S3Endpoint: env.S3Endpoint, S3AccessKey: env.S3AccessKey, S3SecretKey: env.S3SecretKey, S3Region: env.S3Region,
		S3Bucket: "sluice-demo", OTLPEndpoint: env.OTLPEndpoint,
		Provider: "amazonads", ProviderConfig: job.providerConfig(api),
		// Reports take seconds to generate: enough tasks in flight to keep the quota busy.
		ExtractorArgs: []string{"--workers", "96"},
		ProviderEnv: map[string]string{
			amazonads.EnvClientID: cred.ClientID, amazonads.EnvClientSecret: cred.ClientSecret, amazonads.EnvRefreshToken: cred.RefreshToken,
		},
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := svc.Group.Stop(20 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stop services:", err)
		}
		fmt.Printf("services stopped; logs in %s\n", logDir)
	}()

	from, to := job.window()
	fmt.Printf("demo: amazonads, %d profiles, spCampaigns %s..%s, quota %g calls/s; expecting %d rows\n",
		job.profiles, from.Format(time.DateOnly), to.Format(time.DateOnly), job.quota, want)
	start := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "sluice"), "run", "amazonads",
		"--from", from.Format(time.DateOnly), "--to", to.Format(time.DateOnly), "--run-id", fmt.Sprintf("demo-%d", start.Unix()))
	cmd.Env = append(os.Environ(), "SLUICE_NATS_URL="+env.NATSURL)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("sluice run: %w", err)
	}
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	p := &progress{sim: srv, pool: pool, table: demoTable, want: want, start: start, out: os.Stdout, group: svc.Group}
	if err := p.wait(ctx, *timeout); err != nil {
		return err
	}
	if err := clicontext.Save(os.Getenv, "demo", map[string]string{
		"SLUICE_NATS_URL": env.NATSURL, "SLUICE_POSTGRES_URL": pgURL, "SLUICE_MONGO_URI": env.MongoURI,
		"SLUICE_MONGO_DATABASE": *demoDB, "SLUICE_JAEGER_URL": env.JaegerURL,
	}, "written by make demo: its database and document store"); err != nil {
		fmt.Fprintln(os.Stderr, "demo: could not save the CLI context:", err)
	}
	return summary(ctx, summaryInput{env: env, pool: pool, sim: srv.Stats(), quota: job.quota, elapsed: time.Since(start), pgURL: pgURL})
}

func resetStreams(ctx context.Context, url string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return fmt.Errorf("connect %s: %w (start the servers with make infra-up)", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	// The rate governor's learned limits go too: each demo meets a new simulator.
	for _, s := range []string{"TASKS", "RAW", "STAGED", "ROWS", "DLQ", "KV_sluice-limits"} {
		if err := js.DeleteStream(ctx, s); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("reset stream %s: %w", s, err)
		}
	}
	return nil
}
