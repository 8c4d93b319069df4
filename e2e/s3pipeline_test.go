package e2e

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects"
)

// s3Pipeline is the whole pipeline running the s3objects provider, with its own NATS,
// Postgres database and Mongo database.
type s3Pipeline struct {
	infra   testinfra.Env
	natsURL string
	bin     string
	suffix  string
	svc     *harness.Services
	pool    *pgxpool.Pool
	js      jetstream.JetStream
}

// newS3Pipeline prepares the servers; start runs the services.
func newS3Pipeline(t *testing.T, ctx context.Context) *s3Pipeline {
	t.Helper()
	p := &s3Pipeline{
		infra:   testinfra.Require(t, testinfra.Postgres, testinfra.Mongo, testinfra.S3),
		natsURL: testinfra.PrivateNATS(t),
		suffix:  strconv.FormatUint(rand.Uint64()%1e9, 36),
	}
	p.bin = testinfra.Binaries(t, "sluice-extractor", "sluice-staging-store", "sluice-transformer", "sluice-loader", "sluice")
	nc, err := nats.Connect(p.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if p.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return p
}

// db names the test's Postgres and Mongo databases.
func (p *s3Pipeline) db() string { return "sluice_s3_" + p.suffix }

// start runs the four services with cfg; env adds variables (another account's keys).
func (p *s3Pipeline) start(t *testing.T, ctx context.Context, cfg *s3objects.Config, env map[string]string, extractorArgs ...string) {
	t.Helper()
	pgURL, err := harness.CreateDatabase(ctx, p.infra.PostgresURL, p.db())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = harness.DropDatabase(context.Background(), p.infra.PostgresURL, p.db()) })
	p.svc, err = harness.Start(harness.Config{
		Bin: p.bin, LogDir: t.TempDir(), NATSURL: p.natsURL, PostgresURL: pgURL,
		MongoURI: p.infra.MongoURI, MongoDatabase: p.db(),
		S3Endpoint: p.infra.S3Endpoint, S3AccessKey: p.infra.S3AccessKey, S3SecretKey: p.infra.S3SecretKey, S3Region: p.infra.S3Region,
		S3Bucket: "sluice-e2e-s3-" + p.suffix, Provider: s3objects.Name, ProviderConfig: cfg,
		ExtractorArgs: extractorArgs, Env: env,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, proc := range p.svc.Group {
			if exited, _ := proc.Exited(); !exited {
				if err := proc.Stop(20 * time.Second); err != nil {
					t.Errorf("graceful stop of %s: %v", proc.Name, err)
				}
			}
			if t.Failed() {
				t.Logf("--- %s log:\n%s", proc.Name, proc.Tail(4000))
			}
		}
		dropMongoDatabase(p.infra.MongoURI, p.db())
	})
	if p.pool, err = pgxpool.New(ctx, pgURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.pool.Close)
}

// run plans a run of s3objects with the CLI.
func (p *s3Pipeline) run(t *testing.T, ctx context.Context, runID string) {
	t.Helper()
	runSluice(t, ctx, p.bin, p.natsURL, "run", s3objects.Name, "--run-id", runID)
}

// tasks counts the deliveries of the provider's task consumer.
func (p *s3Pipeline) tasks(t *testing.T, ctx context.Context) uint64 {
	t.Helper()
	return consumerDelivered(t, ctx, p.js, "TASKS", "extractor-"+s3objects.Name)
}
