package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy"
	"github.com/sluice-dev/sluice/services/extractor/providers/sqlcopy/sqlcopytest"
)

// TestSQLCopyEndToEnd copies tables of every key kind (one of wide rows) from a source
// database through the whole pipeline into the loader's tables, with the extractor
// killed (SIGKILL) in the middle of a partition and its successor stopped (SIGTERM),
// and compares every destination table with its source row by row.
func TestSQLCopyEndToEnd(t *testing.T) {
	env := testinfra.Require(t, testinfra.Postgres, testinfra.Mongo, testinfra.S3)
	natsURL := testinfra.PrivateNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	suffix := strconv.FormatUint(rand.Uint64()%1e9, 36)
	srcName, dstName, mongoDB := "sluice_sqlsrc_"+suffix, "sluice_sqldst_"+suffix, "sluice_sqlcopy_"+suffix
	srcURL, err := harness.CreateDatabase(ctx, env.PostgresURL, srcName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = harness.DropDatabase(context.Background(), env.PostgresURL, srcName) })
	dstURL, err := harness.CreateDatabase(ctx, env.PostgresURL, dstName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = harness.DropDatabase(context.Background(), env.PostgresURL, dstName) })

	src, err := pgx.Connect(ctx, srcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(context.Background())
	tables := []sqlcopytest.Table{
		{Name: "t_int", Key: sqlcopytest.KeyInt, Rows: 12000},
		{Name: "t_text", Key: sqlcopytest.KeyText, Rows: 3000},
		{Name: "t_uuid", Key: sqlcopytest.KeyUUID, Rows: 1500, Wide: true},
		{Name: "t_ts", Key: sqlcopytest.KeyTimestamp, Rows: 3000},
		{Name: "t_comp", Key: sqlcopytest.KeyComposite, Rows: 3000},
	}
	cfg := sqlcopy.DefaultConfig()
	specDir := t.TempDir()
	for _, tb := range tables {
		if err := sqlcopytest.Create(ctx, src, tb); err != nil {
			t.Fatal(err)
		}
		path, err := sqlcopytest.WriteSpec(ctx, src, specDir, "public."+tb.Name, tb.Name, "copy_"+tb.Name)
		if err != nil {
			t.Fatal(err)
		}
		tc := sqlcopy.Table{Dataset: tb.Name, Source: "public." + tb.Name, SpecFile: path, Partitions: 3}
		if tb.Name == "t_int" {
			// About 0.5 ms a row read, in one partition (so planning reads no row): the
			// copy of t_int lasts long enough to be killed in the middle.
			tc.Filter, tc.Partitions = "pg_sleep(0.0005) IS NOT NULL", 1
		}
		cfg.Tables = append(cfg.Tables, tc)
	}
	cfg.Page.ProbeRows, cfg.Page.MaxRows, cfg.Page.MemoryBytes = 100, 500, 1<<20

	began := time.Now()
	bin := testinfra.Binaries(t, "sluice-extractor", "sluice-staging-store", "sluice-transformer", "sluice-loader", "sluice")
	hc := harness.Config{
		Bin: bin, LogDir: t.TempDir(), NATSURL: natsURL, PostgresURL: dstURL,
		MongoURI: env.MongoURI, MongoDatabase: mongoDB,
		S3Endpoint: env.S3Endpoint, S3AccessKey: env.S3AccessKey, S3SecretKey: env.S3SecretKey, S3Region: env.S3Region,
		S3Bucket: "sluice-e2e", Provider: sqlcopy.Name, ProviderConfig: cfg,
		ProviderEnv:   map[string]string{sqlcopy.EnvSourceURL: srcURL},
		ExtractorArgs: []string{"--ack-wait", "5s", "--workers", "8"},
	}
	t.Logf("%v: binaries built, source tables made", time.Since(began).Round(time.Millisecond))
	svc, err := harness.Start(hc)
	if err != nil {
		t.Fatal(err)
	}
	var extra []*testinfra.Proc
	t.Cleanup(func() {
		for _, p := range extra {
			_ = p.Stop(20 * time.Second)
			if t.Failed() {
				t.Logf("--- extractor log:\n%s", p.Tail(3000))
			}
		}
		_ = svc.Group.Stop(20 * time.Second)
		if t.Failed() {
			for _, p := range svc.Group {
				t.Logf("--- %s log:\n%s", p.Name, p.Tail(3000))
			}
		}
	})
	pool, err := pgxpool.New(ctx, dstURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	cmd := exec.CommandContext(ctx, filepath.Join(bin, "sluice"), "run", sqlcopy.Name, "--run-id", "e2e-sqlcopy")
	cmd.Env = append(os.Environ(), "SLUICE_NATS_URL="+natsURL)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sluice run: %v\n%s", err, out)
	}

	// SIGKILL once t_int's first pages are loaded, while its partitions are mid-way.
	n := waitSome(t, ctx, pool, "copy_t_int", 1)
	for _, p := range svc.Group {
		if strings.HasPrefix(p.Name, "extractor-") {
			p.Kill()
		}
	}
	if n >= 12000 {
		t.Fatalf("copy_t_int already complete (%d rows) when the extractor was killed", n)
	}
	t.Logf("%v: extractor killed with %d rows of copy_t_int loaded", time.Since(began).Round(time.Millisecond), n)

	// A successor resumes from the checkpoints; stop it with SIGTERM mid-way too.
	second, err := hc.Extractor("extractor-sqlcopy-2")
	if err != nil {
		t.Fatal(err)
	}
	extra = append(extra, second)
	m := waitSome(t, ctx, pool, "copy_t_int", n+1)
	if err := second.Stop(20 * time.Second); err != nil {
		t.Logf("SIGTERM: %v", err)
	}
	t.Logf("%v: second extractor stopped with %d rows of copy_t_int loaded", time.Since(began).Round(time.Millisecond), m)
	third, err := hc.Extractor("extractor-sqlcopy-3")
	if err != nil {
		t.Fatal(err)
	}
	extra = append(extra, third)

	for _, tb := range tables {
		if _, err := harness.WaitRows(ctx, pool, "copy_"+tb.Name, int64(tb.Rows), 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%v: every row loaded", time.Since(began).Round(time.Millisecond))
	for _, tb := range tables {
		n, err := sqlcopytest.Compare(ctx, srcURL, "public."+tb.Name, dstURL, "copy_"+tb.Name)
		if err != nil {
			t.Fatal(err)
		}
		if n != tb.Rows {
			t.Fatalf("%s: %d rows compared, want %d", tb.Name, n, tb.Rows)
		}
	}
}

// waitSome waits until table holds at least min rows and returns the count.
func waitSome(t *testing.T, ctx context.Context, pool *pgxpool.Pool, table string, min int64) int64 {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int64
		err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n)
		if err == nil && n >= min {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d rows after 2 minutes, want at least %d (%v)", table, n, min, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
