package e2e

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/providers/demo"
)

const (
	records       = 12
	rowsPerRecord = 5
	day           = "2024-06-01"
)

// TestPipelineEndToEnd runs the four services as processes against real NATS JetStream,
// PostgreSQL, FerretDB, S3 and Jaeger, pushes the demo provider's records through and
// checks every promise of the spine: exact rows in Postgres, raw documents staged,
// idempotence of a second identical run, and one trace per record across all services.
func TestPipelineEndToEnd(t *testing.T) {
	env := testinfra.Require(t, testinfra.Postgres, testinfra.Mongo, testinfra.S3, testinfra.Jaeger)
	natsURL := testinfra.PrivateNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	suffix := strconv.FormatUint(rand.Uint64()%1e9, 36)
	dbName, mongoDB := "sluice_e2e_"+suffix, "sluice_e2e_"+suffix
	pgURL, err := harness.CreateDatabase(ctx, env.PostgresURL, dbName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = harness.DropDatabase(context.Background(), env.PostgresURL, dbName) })

	bin := testinfra.Binaries(t, "sluice-extractor", "sluice-staging-store", "sluice-transformer", "sluice-loader", "sluice")
	logDir := t.TempDir()
	svc, err := harness.Start(harness.Config{
		Bin: bin, LogDir: logDir, NATSURL: natsURL, PostgresURL: pgURL,
		MongoURI: env.MongoURI, MongoDatabase: mongoDB,
		S3Endpoint: env.S3Endpoint, S3AccessKey: env.S3AccessKey, S3SecretKey: env.S3SecretKey, S3Region: env.S3Region,
		S3Bucket: "sluice-e2e", OTLPEndpoint: env.OTLPEndpoint,
		Provider: "demo", ProviderConfig: demo.Config{Records: records, RowsPerRecord: rowsPerRecord, Tasks: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Group.Stop(20 * time.Second); err != nil {
			t.Errorf("graceful stop: %v", err)
		}
		if t.Failed() {
			for _, p := range svc.Group {
				t.Logf("--- %s log:\n%s", p.Name, p.Tail(3000))
			}
		}
	})

	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	mc, err := mongo.Connect(options.Client().ApplyURI(env.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = mc.Database(mongoDB).Drop(context.Background())
		_ = mc.Disconnect(context.Background())
	})
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	sluiceRun(t, ctx, bin, natsURL, "e2e-first")
	const want = records * rowsPerRecord
	if _, err := harness.WaitRows(ctx, pool, "demo_items", want, 90*time.Second); err != nil {
		t.Fatal(err)
	}

	t.Run("rows exactly once with expected values", func(t *testing.T) {
		checkRows(t, ctx, pool)
	})
	t.Run("raw documents staged", func(t *testing.T) {
		checkStaged(t, ctx, mc.Database(mongoDB).Collection("raw_demo"))
	})
	t.Run("one trace per record through all four services", func(t *testing.T) {
		checkTrace(t, ctx, pool, env.JaegerURL)
	})
	t.Run("same input twice changes nothing", func(t *testing.T) {
		var loadedBefore time.Time
		if err := pool.QueryRow(ctx, "SELECT max(_loaded_at) FROM demo_items").Scan(&loadedBefore); err != nil {
			t.Fatal(err)
		}
		before := consumerDelivered(t, ctx, js, "TASKS", "extractor-demo")
		sluiceRun(t, ctx, bin, natsURL, "e2e-second")
		// The second run's plan task and its three tasks must be taken and finished.
		waitConsumerIdle(t, ctx, js, "TASKS", "extractor-demo", before+4)
		for _, c := range []struct{ stream, consumer string }{{"RAW", "staging-store"}, {"STAGED", "transformer"}, {"ROWS", "loader"}} {
			waitConsumerIdle(t, ctx, js, c.stream, c.consumer, 0)
		}
		checkRows(t, ctx, pool)
		checkStaged(t, ctx, mc.Database(mongoDB).Collection("raw_demo"))
		var loadedAfter time.Time
		if err := pool.QueryRow(ctx, "SELECT max(_loaded_at) FROM demo_items").Scan(&loadedAfter); err != nil {
			t.Fatal(err)
		}
		if !loadedAfter.Equal(loadedBefore) {
			t.Fatalf("rows were rewritten by an identical second run: _loaded_at %v -> %v", loadedBefore, loadedAfter)
		}
		raw, err := js.Stream(ctx, "RAW")
		if err != nil {
			t.Fatal(err)
		}
		if n := raw.CachedInfo().State.Msgs; n != records {
			t.Fatalf("RAW holds %d messages after two identical runs, want %d (publish dedupe by record id)", n, records)
		}
	})
}

func sluiceRun(t *testing.T, ctx context.Context, bin, natsURL, runID string) {
	t.Helper()
	runSluice(t, ctx, bin, natsURL, "run", "demo", "--from", day, "--to", day, "--run-id", runID)
}

func checkRows(t *testing.T, ctx context.Context, pool *pgxpool.Pool) {
	t.Helper()
	rows, err := pool.Query(ctx, "SELECT id, name, price::text, quantity, observed_on::text, _record_id, _trace_id FROM demo_items ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID                int64
		Name, Price       string
		Quantity          int
		Day, Rec, TraceID string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	var want []demo.Item
	for r := range records {
		want = append(want, demo.Rows(day, r, rowsPerRecord)...)
	}
	if len(got) != len(want) {
		t.Fatalf("demo_items holds %d rows, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		price, _ := strconv.ParseFloat(g.Price, 64)
		if g.ID != w.ID || g.Name != w.Name || price != w.Price || g.Quantity != w.Quantity || g.Day != w.ObservedOn {
			t.Errorf("row %d: got %+v, want %+v", i, g, w)
		}
		if len(g.Rec) != 32 || len(g.TraceID) != 32 {
			t.Errorf("row %d: lineage record id %q trace id %q", i, g.Rec, g.TraceID)
		}
	}
}

func checkStaged(t *testing.T, ctx context.Context, coll *mongo.Collection) {
	t.Helper()
	n, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != records {
		t.Fatalf("raw_demo holds %d documents, want %d", n, records)
	}
	var doc struct {
		ID        string `bson:"_id"`
		SourceKey string `bson:"source_key"`
		Payload   []byte `bson:"payload"`
		TraceID   string `bson:"trace_id"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "source_key", Value: "day=" + day + "/record=3"}}).Decode(&doc); err != nil {
		t.Fatalf("raw document of record 3: %v", err)
	}
	if len(doc.Payload) == 0 || doc.TraceID == "" {
		t.Fatalf("raw document %s lacks payload or trace id: %+v", doc.ID, doc)
	}
}

func checkTrace(t *testing.T, ctx context.Context, pool *pgxpool.Pool, jaegerURL string) {
	t.Helper()
	var traceID string
	if err := pool.QueryRow(ctx, "SELECT _trace_id FROM demo_items WHERE id = 7").Scan(&traceID); err != nil {
		t.Fatal(err)
	}
	wantOrder := []string{"extractor-demo", "staging-store", "transformer", "loader"}
	var spans []harness.Span
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		spans, err = harness.Trace(ctx, jaegerURL, traceID)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(harness.Stages(spans), wantOrder) && hasSpan(spans, "loader", "load") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s: services in order %v, want %v; spans: %v", traceID, harness.Stages(spans), wantOrder, spans)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, s := range spans {
		if s.TraceID != traceID {
			t.Fatalf("span %s %s belongs to trace %s, want %s", s.Service, s.Name, s.TraceID, traceID)
		}
	}
	t.Logf("trace %s: %s", traceID, harness.JaegerLink(jaegerURL, traceID))
}

func hasSpan(spans []harness.Span, service, name string) bool {
	for _, s := range spans {
		if s.Service == service && s.Name == name {
			return true
		}
	}
	return false
}

func consumerDelivered(t *testing.T, ctx context.Context, js jetstream.JetStream, stream, name string) uint64 {
	t.Helper()
	c, err := js.Consumer(ctx, stream, name)
	if err != nil {
		t.Fatal(err)
	}
	return c.CachedInfo().Delivered.Consumer
}

// waitConsumerIdle waits until the consumer has delivered at least minDelivered messages
// (deliveries, counting redeliveries) and has nothing pending or unacknowledged.
func waitConsumerIdle(t *testing.T, ctx context.Context, js jetstream.JetStream, stream, name string, minDelivered uint64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := js.Consumer(ctx, stream, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Delivered.Consumer >= minDelivered && info.NumPending == 0 && info.NumAckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s/%s not idle: delivered %d (want ≥ %d), pending %d, ack pending %d",
				stream, name, info.Delivered.Consumer, minDelivered, info.NumPending, info.NumAckPending)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
