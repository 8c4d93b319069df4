package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/providers/demo"
)

// TestCLIStatusAndTrace runs the demo pipeline on real servers, then checks that `sluice
// status --json` reports the run done with no lag anywhere, and that `sluice trace` leads
// from a loaded row to its record id, raw document and trace in Jaeger.
func TestCLIStatusAndTrace(t *testing.T) {
	env := testinfra.Require(t, testinfra.Postgres, testinfra.Mongo, testinfra.S3, testinfra.Jaeger)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const recs, rows = 12, 5
	p := startDemoPipeline(t, ctx, env, demo.Config{Records: recs, RowsPerRecord: rows, Tasks: 3})
	sluiceRun(t, ctx, p.bin, p.natsURL, "cli-run")
	if _, err := harness.WaitRows(ctx, p.pool, "demo_items", recs*rows, 90*time.Second); err != nil {
		t.Fatal(err)
	}

	t.Run("status --json: tasks done, no lag", func(t *testing.T) {
		var rep statusJSON
		deadline := time.Now().Add(60 * time.Second)
		for {
			rep = p.status(t, ctx, "--json", "--interval", "300ms")
			if problem := rep.notIdle("demo", 4); problem == "" {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("status never showed the run finished: %s\n%+v", problem, rep)
			}
			time.Sleep(300 * time.Millisecond)
		}
		if rep.IntervalSeconds <= 0 {
			t.Errorf("interval_seconds %v: rates must come from two samples", rep.IntervalSeconds)
		}
		for _, s := range rep.Stages {
			if s.PerSecond == nil || s.ETASeconds == nil || *s.ETASeconds != 0 {
				t.Errorf("stage %s: rate %v, ETA %v; want a rate and ETA 0", s.Consumer, s.PerSecond, s.ETASeconds)
			}
		}
		if rep.DLQ.Messages != 0 {
			t.Errorf("DLQ holds %d messages after a clean run", rep.DLQ.Messages)
		}
	})

	t.Run("status as text", func(t *testing.T) {
		out, errOut, err := p.sluice(ctx, "status", "--interval", "0")
		if err != nil {
			t.Fatalf("sluice status: %v\n%s", err, errOut)
		}
		for _, want := range []string{"PROVIDER", "demo", "staging-store", "transformer", "loader", "DLQ: 0 messages"} {
			if !strings.Contains(out, want) {
				t.Errorf("status output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "█") {
			t.Errorf("progress bars on a pipe:\n%s", out)
		}
		t.Logf("sluice status:\n%s", out)
	})

	t.Run("status --watch --json: one line per refresh until interrupted", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "sluice"), "status", "--watch", "--json", "--interval", "200ms")
		cmd.Env = append(os.Environ(), "SLUICE_NATS_URL="+p.natsURL)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("sluice status --watch ended with %v after an interrupt\n%s", err, errOut.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) < 3 {
			t.Fatalf("%d refreshes in 1.5s at 200ms:\n%s", len(lines), out.String())
		}
		for i, l := range lines {
			var rep statusJSON
			if err := json.Unmarshal([]byte(l), &rep); err != nil {
				t.Fatalf("line %d: %v: %s", i, err, l)
			}
			if (i > 0) != (rep.IntervalSeconds > 0) || rep.IntervalSeconds > 1 {
				t.Errorf("line %d: interval_seconds %v; want 0 on the first, about 0.2 after", i, rep.IntervalSeconds)
			}
		}
	})

	t.Run("trace demo_items 7", func(t *testing.T) {
		checkTraceCommand(t, ctx, p, 7, rows, false)
	})

	t.Run("trace errors", func(t *testing.T) {
		for _, tc := range []struct{ args, want string }{
			{"trace demo_items 999999", "no row in demo_items with id=999999"},
			{"trace no_such_table 1", `no dataset spec loads into table "no_such_table"`},
			{"trace demo_items", "usage: sluice trace"},
		} {
			_, errOut, err := p.sluice(ctx, strings.Fields(tc.args)...)
			if err == nil || !strings.Contains(errOut, tc.want) {
				t.Errorf("sluice %s: err %v, stderr %q; want an error saying %q", tc.args, err, errOut, tc.want)
			}
		}
	})
}

// checkTraceCommand runs `sluice trace demo_items <id>` as text and as JSON and checks it
// against the database, the document store, S3 and Jaeger. claimCheck says whether the
// record's payload went to S3.
func checkTraceCommand(t *testing.T, ctx context.Context, p *demoPipeline, id, rowsPerRecord int, claimCheck bool) {
	t.Helper()
	var recordID, traceID string
	if err := p.pool.QueryRow(ctx, "SELECT _record_id, _trace_id FROM demo_items WHERE id = $1", id).Scan(&recordID, &traceID); err != nil {
		t.Fatal(err)
	}
	r := (id - 1) / rowsPerRecord
	payload, err := json.Marshal(demo.Rows(day, r, rowsPerRecord))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	link := harness.JaegerLink(p.env.JaegerURL, traceID)

	out, errOut, err := p.sluice(ctx, "trace", "demo_items", strconv.Itoa(id))
	if err != nil {
		t.Fatalf("sluice trace: %v\n%s", err, errOut)
	}
	t.Logf("sluice trace demo_items %d:\n%s", id, out)
	for _, want := range []string{
		"record id     " + recordID, "trace id      " + traceID, "jaeger        " + link,
		"collection   " + p.mongoDB + ".raw_demo", "_id          " + recordID,
		"source key   day=" + day + "/record=" + strconv.Itoa(r), "run id       ",
		"size         " + strconv.Itoa(len(payload)) + " bytes", "sha256       " + hex.EncodeToString(sum[:]),
		"  id                   " + strconv.Itoa(id) + "\n", "  name                 item-" + strconv.Itoa(id) + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("trace output lacks %q:\n%s", want, out)
		}
	}

	out, errOut, err = p.sluice(ctx, "trace", "--json", "demo_items", "id="+strconv.Itoa(id))
	if err != nil {
		t.Fatalf("sluice trace --json: %v\n%s", err, errOut)
	}
	var rep struct {
		RecordID  string         `json:"record_id"`
		TraceID   string         `json:"trace_id"`
		JaegerURL string         `json:"jaeger_url"`
		Row       map[string]any `json:"row"`
		Raw       *struct {
			ID        string `json:"id"`
			SourceKey string `json:"source_key"`
			Size      int64  `json:"size"`
			SHA256    string `json:"sha256"`
			Inline    bool   `json:"inline"`
			S3        *struct {
				URI    string `json:"uri"`
				Exists *bool  `json:"exists"`
				Size   *int64 `json:"size"`
				Error  string `json:"error"`
			} `json:"s3"`
		} `json:"raw"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("trace --json output: %v\n%s", err, out)
	}
	if rep.RecordID != recordID || rep.TraceID != traceID || rep.JaegerURL != link || rep.Raw == nil || rep.Raw.ID != recordID ||
		rep.Raw.SHA256 != hex.EncodeToString(sum[:]) || rep.Raw.Size != int64(len(payload)) || rep.Row["name"] != "item-"+strconv.Itoa(id) {
		t.Errorf("trace --json: %s\nwant record %s, trace %s, link %s, size %d", out, recordID, traceID, link, len(payload))
	}
	switch {
	case rep.Raw == nil:
	case claimCheck && (rep.Raw.Inline || rep.Raw.S3 == nil || rep.Raw.S3.Exists == nil || !*rep.Raw.S3.Exists ||
		rep.Raw.S3.Size == nil || *rep.Raw.S3.Size != int64(len(payload))):
		t.Errorf("claim-checked record: raw %+v, s3 %+v; want the S3 object found with %d bytes", rep.Raw, rep.Raw.S3, len(payload))
	case !claimCheck && (!rep.Raw.Inline || rep.Raw.S3 != nil):
		t.Errorf("inline record reported as claim-checked: %s", out)
	}

	// --payload writes the exact bytes the provider returned, wherever they are kept.
	out, errOut, err = p.sluice(ctx, "trace", "demo_items", strconv.Itoa(id), "--payload")
	if err != nil || out != string(payload) {
		t.Errorf("trace --payload: %v %s\ngot  %q\nwant %q", err, errOut, out, payload)
	}

	// The link leads to a trace Jaeger holds, through all four services.
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans, err := harness.Trace(ctx, p.env.JaegerURL, traceID)
		if err != nil {
			t.Fatal(err)
		}
		if len(harness.Stages(spans)) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger trace %s behind the link has services %v, want 4", traceID, harness.Stages(spans))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// demoPipeline is the four services and the sluice CLI on real servers, with a database
// and a document-store database of their own.
type demoPipeline struct {
	env             testinfra.Env
	natsURL, pgURL  string
	mongoDB, bucket string
	bin, logDir     string
	svc             *harness.Services
	pool            *pgxpool.Pool
	js              jetstream.JetStream
}

// startDemoPipeline builds the binaries (and extra ones) and starts the demo pipeline.
// Services inherit the test's environment, so t.Setenv tunes them.
func startDemoPipeline(t *testing.T, ctx context.Context, env testinfra.Env, cfg demo.Config, extraBins ...string) *demoPipeline {
	t.Helper()
	bin := testinfra.Binaries(t, append([]string{"sluice-extractor", "sluice-staging-store", "sluice-transformer", "sluice-loader", "sluice"}, extraBins...)...)
	return startProviderPipeline(t, ctx, env, bin, "demo", cfg)
}

// startProviderPipeline runs the four services from bin (its sluice-extractor runs
// provider with cfg) on a private NATS, a database and a document store of their own.
func startProviderPipeline(t *testing.T, ctx context.Context, env testinfra.Env, bin, provider string, cfg any) *demoPipeline {
	t.Helper()
	suffix := strconv.FormatUint(rand.Uint64()%1e9, 36)
	p := &demoPipeline{env: env, natsURL: testinfra.PrivateNATS(t), mongoDB: "sluice_cli_" + suffix, bucket: "sluice-e2e",
		logDir: t.TempDir()}
	var err error
	dbName := "sluice_cli_" + suffix
	if p.pgURL, err = harness.CreateDatabase(ctx, env.PostgresURL, dbName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = harness.DropDatabase(context.Background(), env.PostgresURL, dbName) })
	p.bin = bin
	p.svc, err = harness.Start(harness.Config{
		Bin: p.bin, LogDir: p.logDir, NATSURL: p.natsURL, PostgresURL: p.pgURL,
		MongoURI: env.MongoURI, MongoDatabase: p.mongoDB,
		S3Endpoint: env.S3Endpoint, S3AccessKey: env.S3AccessKey, S3SecretKey: env.S3SecretKey, S3Region: env.S3Region,
		S3Bucket: p.bucket, OTLPEndpoint: env.OTLPEndpoint,
		Provider: provider, ProviderConfig: cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.svc.Group.Stop(20 * time.Second); err != nil {
			t.Errorf("graceful stop: %v", err)
		}
		if t.Failed() {
			for _, pr := range p.svc.Group {
				t.Logf("--- %s log:\n%s", pr.Name, pr.Tail(3000))
			}
		}
	})
	if p.pool, err = pgxpool.New(ctx, p.pgURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.pool.Close)
	nc, err := nats.Connect(p.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if p.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropMongoDatabase(env.MongoURI, p.mongoDB) })
	return p
}

// sluice runs the CLI with the pipeline's servers in its environment.
func (p *demoPipeline) sluice(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "sluice"), args...)
	cmd.Env = append(os.Environ(),
		"SLUICE_NATS_URL="+p.natsURL, "SLUICE_POSTGRES_URL="+p.pgURL,
		"SLUICE_MONGO_URI="+p.env.MongoURI, "SLUICE_MONGO_DATABASE="+p.mongoDB, "SLUICE_JAEGER_URL="+p.env.JaegerURL,
		"SLUICE_S3_ENDPOINT="+p.env.S3Endpoint, "SLUICE_S3_REGION="+p.env.S3Region,
		"SLUICE_S3_ACCESS_KEY="+p.env.S3AccessKey, "SLUICE_S3_SECRET_KEY="+p.env.S3SecretKey)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// statusJSON is the part of `sluice status --json` the tests read.
type statusJSON struct {
	IntervalSeconds float64 `json:"interval_seconds"`
	Providers       []struct {
		Provider     string   `json:"provider"`
		TasksDone    uint64   `json:"tasks_done"`
		TasksPending uint64   `json:"tasks_pending"`
		TasksRunning int      `json:"tasks_running"`
		ETASeconds   *float64 `json:"eta_seconds"`
	} `json:"providers"`
	Stages []struct {
		Consumer   string   `json:"consumer"`
		Exists     bool     `json:"exists"`
		Done       uint64   `json:"done"`
		Lag        uint64   `json:"lag"`
		InFlight   int      `json:"in_flight"`
		PerSecond  *float64 `json:"per_second"`
		ETASeconds *float64 `json:"eta_seconds"`
	} `json:"stages"`
	DLQ struct {
		Messages uint64 `json:"messages"`
	} `json:"dlq"`
}

func (p *demoPipeline) status(t *testing.T, ctx context.Context, args ...string) statusJSON {
	t.Helper()
	out, errOut, err := p.sluice(ctx, append([]string{"status"}, args...)...)
	if err != nil {
		t.Fatalf("sluice status: %v\n%s", err, errOut)
	}
	var rep statusJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("sluice status --json: %v\n%s", err, out)
	}
	return rep
}

// notIdle says what is not finished yet: provider's tasks (at least minTasks done, none
// pending or running) and the three stages (created, some work done, no lag, nothing in
// flight); "" when all is done.
func (r statusJSON) notIdle(provider string, minTasks uint64) string {
	found := false
	for _, p := range r.Providers {
		if p.Provider != provider {
			continue
		}
		found = true
		if p.TasksDone < minTasks || p.TasksPending != 0 || p.TasksRunning != 0 || p.ETASeconds == nil || *p.ETASeconds != 0 {
			return "provider " + provider + " tasks not finished"
		}
	}
	if !found {
		return "provider " + provider + " not listed"
	}
	want := map[string]bool{"staging-store": true, "transformer": true, "loader": true}
	for _, s := range r.Stages {
		if !want[s.Consumer] {
			continue
		}
		delete(want, s.Consumer)
		if !s.Exists || s.Done == 0 || s.Lag != 0 || s.InFlight != 0 {
			return "stage " + s.Consumer + " not idle"
		}
	}
	if len(want) > 0 {
		return "stages missing"
	}
	return ""
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
