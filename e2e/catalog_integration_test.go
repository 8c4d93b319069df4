package e2e

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/internal/staging"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/simulators/catalog/sim"
)

// TestCatalogEndToEnd runs the catalog manifest (the rest provider) through the whole
// pipeline — extractor, staging-store, transformer, loader as processes on real NATS
// JetStream, FerretDB, S3 and PostgreSQL — against the catalog simulator with 429s (some
// without Retry-After) and 5xx. The extractor is killed (SIGKILL) after a few pages and
// started again: it resumes from the last emitted page (the simulator's page counter shows
// no emitted page requested again), and the hotels and rooms tables hold exactly the
// simulator's expected rows.
func TestCatalogEndToEnd(t *testing.T) {
	env := testinfra.Require(t, testinfra.Postgres, testinfra.Mongo, testinfra.S3)
	natsURL, js := servicetest.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	scfg := sim.DefaultConfig()
	scfg.Hotels, scfg.KeyRate, scfg.KeyBurst = 600, 40, 2
	scfg.ErrorRate, scfg.NoRetryAfter = 0.01, 0.3
	srv, err := sim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close() })

	suffix := strconv.FormatUint(rand.Uint64()%1e9, 36)
	dbName := "sluice_e2e_catalog_" + suffix
	pgURL, err := harness.CreateDatabase(ctx, env.PostgresURL, dbName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = harness.DropDatabase(context.Background(), env.PostgresURL, dbName) })

	bin := testinfra.Binaries(t, "sluice-extractor", "sluice-staging-store", "sluice-transformer", "sluice-loader", "sluice")
	hc := harness.Config{
		Bin: bin, LogDir: t.TempDir(), NATSURL: natsURL, PostgresURL: pgURL,
		MongoURI: env.MongoURI, MongoDatabase: dbName,
		S3Endpoint: env.S3Endpoint, S3AccessKey: env.S3AccessKey, S3SecretKey: env.S3SecretKey, S3Region: env.S3Region,
		S3Bucket: "sluice-e2e",
		Provider: "catalog",
		// Several keys, several quotas; a short ack wait so that the killed extractor's
		// task comes back quickly.
		ProviderEnv:   map[string]string{"SLUICE_CATALOG_API_KEYS": strings.Join(scfg.APIKeys, ",")},
		ExtractorArgs: []string{"--ack-wait", "5s"},
		// Told a rate above the API's, the governor must find the limit from the 429s.
		ProviderConfig: map[string]any{"base_url": ts.URL, "rate": 1.5 * scfg.KeyRate, "burst": 1, "fixed": false, "prefetch": 2,
			"retry": map[string]any{"max_attempts": 20, "initial_backoff": "50ms", "max_backoff": "1s"}},
	}
	svc, err := harness.Start(hc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = svc.Group.Stop(20 * time.Second)
		if t.Failed() {
			for _, p := range svc.Group {
				t.Logf("--- %s log:\n%s", p.Name, p.Tail(3000))
			}
		}
	})
	const runID = "e2e-catalog"
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "sluice"), "run", "catalog", "--run-id", runID, "--param", "full_refresh=true")
	cmd.Env = append(os.Environ(), "SLUICE_NATS_URL="+natsURL)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sluice run: %v\n%s", err, out)
	}

	// Kill the extractor once it checkpointed 2 pages.
	emitted := waitPages(t, ctx, js, "catalog.pages.hotels."+runID, 2)
	for _, p := range svc.Group {
		if p.Name == "extractor-catalog" {
			p.Kill()
		}
	}
	before := srv.PageRequests()
	if _, err := svc.Restart("extractor-catalog"); err != nil {
		t.Fatal(err)
	}

	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	wantHotels, wantRooms := sim.Rows(sim.Expected(scfg, time.Time{}))
	if _, err := harness.WaitRows(ctx, pool, "catalog_hotels", int64(len(wantHotels)), 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := harness.WaitRows(ctx, pool, "catalog_rooms", int64(len(wantRooms)), time.Minute); err != nil {
		t.Fatal(err)
	}
	sameRows(t, "catalog_hotels", queryRows(t, ctx, pool, `SELECT hotel_id::text, supplier, name, coalesce(city, 'NULL'), coalesce(country, 'NULL'),
		coalesce(stars::text, 'NULL'), coalesce(phone, 'NULL'), to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') FROM catalog_hotels`), wantHotels)
	sameRows(t, "catalog_rooms", queryRows(t, ctx, pool, `SELECT hotel_id::text, room_id, name, coalesce(max_occupancy::text, 'NULL'),
		coalesce(round(price, 2)::text, 'NULL'), coalesce(currency, 'NULL') FROM catalog_rooms`), wantRooms)

	checkCatalogStaged(t, ctx, env.MongoURI, dbName)

	after := srv.PageRequests()
	again := 0
	for start, n := range after {
		page := int((start - 1) / 100)
		if page < emitted-1 && n != 1 {
			t.Errorf("page %d, emitted before the kill, requested %d times", page, n)
		}
		if n > 1 {
			again++
		}
	}
	if again > 2 {
		t.Errorf("%d pages requested again after the restart; at most the pages fetched ahead (prefetch 2) and the one in flight may be", again)
	}
	if srv.Stats().Throttled == 0 {
		t.Error("the simulator throttled nothing: the test did not exercise 429s")
	}
	t.Logf("killed after %d pages emitted (%d list pages requested then); %d pages requested twice; sim %+v", emitted, len(before), again, srv.Stats())
}

// checkCatalogStaged checks that staging holds the API's documents as sent: fields no spec
// maps (a beta hotel's chain, an alpha hotel's amenities) are kept there, so a later spec
// can map them by replay without calling the API again.
func checkCatalogStaged(t *testing.T, ctx context.Context, mongoURI, db string) {
	t.Helper()
	mc, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = mc.Database(db).Drop(context.Background())
		_ = mc.Disconnect(context.Background())
	})
	cur, err := mc.Database(db).Collection("raw_catalog").Find(ctx, bson.D{{Key: "dataset", Value: "hotels"}})
	if err != nil {
		t.Fatal(err)
	}
	var docs []staging.Document // decodes compressed payloads
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	unmapped := map[string]bool{}
	for _, d := range docs {
		for _, f := range []string{`"chain"`, `"amenities"`, `"geo"`} {
			if strings.Contains(string(d.Payload), f) {
				unmapped[f] = true
			}
		}
	}
	if len(docs) == 0 || len(unmapped) != 3 {
		t.Errorf("%d staged hotel pages; unmapped fields found in them: %v, want chain, amenities and geo", len(docs), unmapped)
	}
}

// waitPages waits until the stream checkpoint at key counts at least n emitted pages.
func waitPages(t *testing.T, ctx context.Context, js jetstream.JetStream, key string, n int) int {
	t.Helper()
	kv, err := js.KeyValue(ctx, bus.BucketCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if e, err := kv.Get(ctx, key); err == nil {
			var st struct {
				Page int `json:"page"`
			}
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				t.Fatal(err)
			}
			if st.Page >= n {
				return st.Page
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("checkpoint %s never reached %d pages", key, n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func queryRows(t *testing.T, ctx context.Context, pool *pgxpool.Pool, q string) []string {
	t.Helper()
	rows, err := pool.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = v.(string)
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameRows(t *testing.T, table string, got, want []string) {
	t.Helper()
	g := map[string]int{}
	for _, r := range got {
		g[r]++
	}
	missing := 0
	for _, r := range want {
		if g[r] == 0 {
			if missing == 0 {
				t.Errorf("%s: expected row missing: %s", table, r)
			}
			missing++
		}
		delete(g, r)
	}
	if missing > 0 || len(g) > 0 || len(got) != len(want) {
		t.Errorf("%s: %d rows, want %d; %d expected rows missing, %d unexpected", table, len(got), len(want), missing, len(g))
	}
}
