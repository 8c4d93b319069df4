// Command demo runs the whole pipeline once on the local real servers: it starts the four
// services as processes, runs the demo provider, waits until every record is in
// PostgreSQL, prints a summary and stops the services. `make demo` runs it.
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
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/procs"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/providers/demo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	records := flag.Int("records", 200, "records the demo provider emits")
	rows := flag.Int("rows", 50, "rows per record")
	binDir := flag.String("bin", "bin", "directory of the service binaries (built by make build)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	env := testinfra.Load()
	root, err := procs.RepoRoot(".")
	if err != nil {
		return err
	}
	bin, _ := filepath.Abs(filepath.Join(root, *binDir))
	const db = "sluice_demo"
	fmt.Printf("demo: resetting streams on %s, database %s and document store %s\n", env.NATSURL, db, db)
	if err := resetStreams(ctx, env.NATSURL); err != nil {
		return err
	}
	pgURL, err := harness.CreateDatabase(ctx, env.PostgresURL, db)
	if err != nil {
		return err
	}
	mc, err := mongo.Connect(options.Client().ApplyURI(env.MongoURI))
	if err != nil {
		return err
	}
	defer mc.Disconnect(context.Background()) //nolint:errcheck
	if err := mc.Database(db).Drop(ctx); err != nil {
		return fmt.Errorf("reset document store: %w", err)
	}

	logDir := filepath.Join(root, ".demo", "logs")
	_ = os.RemoveAll(logDir)
	svc, err := harness.Start(harness.Config{
		Bin: bin, LogDir: logDir, NATSURL: env.NATSURL, PostgresURL: pgURL,
		MongoURI: env.MongoURI, MongoDatabase: db,
		S3Endpoint: env.S3Endpoint, S3AccessKey: env.S3AccessKey, S3SecretKey: env.S3SecretKey, S3Region: env.S3Region,
		S3Bucket: "sluice-demo", OTLPEndpoint: env.OTLPEndpoint,
		Provider: "demo", ProviderConfig: demo.Config{Records: *records, RowsPerRecord: *rows, Tasks: 8},
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
	for name, addr := range svc.HTTP {
		fmt.Printf("  %-16s http://%s/metrics\n", name, addr)
	}

	start := time.Now()
	day := time.Now().UTC().Format("2006-01-02")
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "sluice"), "run", "demo", "--from", day, "--to", day)
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
	want := int64(*records * *rows)
	if _, err := harness.WaitRows(ctx, pool, "demo_items", want, 3*time.Minute); err != nil {
		return err
	}
	elapsed := time.Since(start)
	return summary(ctx, env, pool, mc.Database(db), want, elapsed, pgURL)
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
	for _, s := range []string{"TASKS", "RAW", "STAGED", "ROWS", "DLQ"} {
		if err := js.DeleteStream(ctx, s); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("reset stream %s: %w", s, err)
		}
	}
	return nil
}

func summary(ctx context.Context, env testinfra.Env, pool *pgxpool.Pool, db *mongo.Database, rows int64, elapsed time.Duration, pgURL string) error {
	nc, err := nats.Connect(env.NATSURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	count := func(stream string) uint64 {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return 0
		}
		return s.CachedInfo().State.Msgs
	}
	staged, _ := db.Collection("raw_demo").CountDocuments(ctx, bson.D{})
	var traceID string
	_ = pool.QueryRow(ctx, "SELECT _trace_id FROM demo_items ORDER BY id LIMIT 1").Scan(&traceID)
	fmt.Println()
	fmt.Println("sluice demo: done")
	fmt.Printf("  tasks         %6d messages on TASKS (work queue: consumed ones are removed)\n", count("TASKS"))
	fmt.Printf("  extracted     %6d raw records on RAW\n", count("RAW"))
	fmt.Printf("  staged        %6d documents in MongoDB raw_demo, %d records on STAGED\n", staged, count("STAGED"))
	fmt.Printf("  transformed   %6d row batches on ROWS\n", count("ROWS"))
	fmt.Printf("  loaded        %6d rows in demo_items\n", rows)
	fmt.Printf("  dead letters  %6d on DLQ\n", count("DLQ"))
	fmt.Printf("  elapsed       %v (%.0f rows/s)\n", elapsed.Round(time.Millisecond), float64(rows)/elapsed.Seconds())
	if traceID != "" {
		// Give the exporters a moment so the link shows the whole trace.
		for i := 0; i < 20; i++ {
			spans, _ := harness.Trace(ctx, env.JaegerURL, traceID)
			if len(harness.Stages(spans)) == 4 {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		fmt.Printf("  trace         %s\n", harness.JaegerLink(env.JaegerURL, traceID))
		fmt.Printf("                (API: %s/api/traces/%s)\n", env.JaegerURL, traceID)
	}
	fmt.Printf("  rows          psql '%s' -c 'SELECT * FROM demo_items ORDER BY id LIMIT 10'\n", pgURL)
	return nil
}
