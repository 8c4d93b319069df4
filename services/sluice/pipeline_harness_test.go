package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/envelope"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
	"github.com/sluice-dev/sluice/internal/staging"
	"github.com/sluice-dev/sluice/internal/testinfra"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// pipeline runs staging-store, transformer and loader as processes against a private NATS
// server, a Mongo database of its own and the local Postgres, and runs the sluice CLI
// binary against them.
type pipeline struct {
	t       *testing.T
	natsURL string
	js      jetstream.JetStream
	specs   *specstore.Store
	store   *staging.Store
	pool    *pgxpool.Pool
	env     []string
	bin     string
	procs   testinfra.Group
}

func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	infra := testinfra.Require(t, testinfra.Postgres, testinfra.Mongo)
	natsURL, js := servicetest.JetStream(t)
	ctx := context.Background()
	p := &pipeline{t: t, natsURL: natsURL, js: js, bin: testinfra.Binaries(t, "sluice-staging-store", "sluice-transformer", "sluice-loader", "sluice")}
	var err error
	db := "sluice_test_" + randomHex(4)
	if p.store, err = staging.Open(ctx, staging.Config{URI: infra.MongoURI, Database: db, WriteConcern: "1"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.store.Drop(context.Background())
		_ = p.store.Close(context.Background())
	})
	if p.pool, err = pgxpool.New(ctx, infra.PostgresURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.pool.Close)
	if p.specs, err = specstore.Open(ctx, p.js); err != nil {
		t.Fatal(err)
	}
	p.env = []string{
		"SLUICE_NATS_URL=" + natsURL, "SLUICE_HTTP_ADDR=127.0.0.1:0", "SLUICE_LOG_FORMAT=text", "SLUICE_OTLP_ENDPOINT=",
		"SLUICE_POSTGRES_URL=" + infra.PostgresURL,
		"SLUICE_MONGO_URI=" + infra.MongoURI, "SLUICE_MONGO_DATABASE=" + db, "SLUICE_MONGO_WRITE_CONCERN=1",
		"SLUICE_S3_ENDPOINT=" + infra.S3Endpoint, "SLUICE_S3_ACCESS_KEY=" + infra.S3AccessKey,
		"SLUICE_S3_SECRET_KEY=" + infra.S3SecretKey, "SLUICE_S3_REGION=" + infra.S3Region,
		"SLUICE_BATCH_WAIT=20ms", "SLUICE_MAX_DELIVER=3",
	}
	logs := t.TempDir()
	for _, name := range []string{"sluice-staging-store", "sluice-transformer", "sluice-loader"} {
		proc, err := testinfra.StartProc(name, filepath.Join(p.bin, name), nil, p.env, logs)
		if err != nil {
			t.Fatal(err)
		}
		p.procs = append(p.procs, proc)
	}
	t.Cleanup(func() {
		if err := p.procs.Stop(20 * time.Second); err != nil {
			t.Errorf("stop services: %v", err)
		}
		if t.Failed() {
			for _, proc := range p.procs {
				t.Logf("--- %s log tail:\n%s", proc.Name, proc.Tail(4000))
			}
		}
	})
	return p
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// itemsSpec is a dataset spec with columns id, name, quantity (and price from version 2).
func itemsSpec(t *testing.T, provider, table string, version int64) *spec.Spec {
	t.Helper()
	price := ""
	if version >= 2 {
		price = `, {"name": "price", "type": "numeric", "expr": "row.price", "nullable": true}`
	}
	sp, err := spec.Parse([]byte(fmt.Sprintf(`{"provider": %q, "dataset": "items", "version": %d, "table": %q,
		"format": {"type": "json_array"},
		"columns": [{"name": "id", "type": "bigint", "expr": "row.id"}, {"name": "name", "type": "text", "expr": "row.name"},
		            {"name": "quantity", "type": "integer", "expr": "row.quantity"}%s],
		"primary_key": ["id"],
		"rules": [{"name": "quantity_non_negative", "expr": "out.quantity >= 0", "message": "quantity must not be negative"}]}`,
		provider, version, table, price)))
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// dataset registers version 1 of an items dataset for a fresh provider and table.
func (p *pipeline) dataset() (provider, table string) {
	p.t.Helper()
	provider, table = "p"+randomHex(4), "items_"+randomHex(4)
	p.register(itemsSpec(p.t, provider, table, 1))
	p.t.Cleanup(func() { _, _ = p.pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	return provider, table
}

func (p *pipeline) register(sp *spec.Spec) {
	p.t.Helper()
	if err := p.specs.Register(context.Background(), sp); err != nil {
		p.t.Fatal(err)
	}
}

// publishRaw publishes one raw record as an extractor would.
func (p *pipeline) publishRaw(provider, key, run string, extracted time.Time, payload string) *sluicev1.Record {
	p.t.Helper()
	rec := envelope.NewInline(envelope.Source{Provider: provider, Dataset: "items", SourceKey: key, RunID: run,
		ExtractedAt: extracted, ContentType: "application/json"}, []byte(payload))
	if _, err := bus.Publish(context.Background(), p.js, bus.Message{Subject: bus.RawSubject(provider, "items"), MsgID: rec.GetId(),
		Body: rec, RecordID: rec.GetId(), Provider: provider, Dataset: "items"}); err != nil {
		p.t.Fatal(err)
	}
	return rec
}

// rows returns the result of sql as text, NULL for null.
func (p *pipeline) rows(sql string) [][]string {
	p.t.Helper()
	rows, err := p.pool.Query(context.Background(), sql)
	if err != nil {
		return nil // e.g. the table does not exist yet
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]string, error) {
		vals, err := r.Values()
		if err != nil {
			return nil, err
		}
		s := make([]string, len(vals))
		for i, v := range vals {
			s[i] = "NULL"
			if v != nil {
				s[i] = fmt.Sprint(v)
			}
		}
		return s, nil
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// waitRows polls sql until it returns want.
func (p *pipeline) waitRows(sql string, want [][]string) {
	p.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		got := p.rows(sql)
		if reflect.DeepEqual(got, want) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s\n got %q\nwant %q", sql, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// idle waits until every service has handled everything published so far.
func (p *pipeline) idle() {
	p.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(45 * time.Second)
	for {
		busy := false
		for _, c := range [][2]string{{bus.StreamRaw, "staging-store"}, {bus.StreamStaged, "transformer"}, {bus.StreamRows, "loader"}} {
			s, err := p.js.Stream(ctx, c[0])
			if err != nil {
				p.t.Fatal(err)
			}
			si, err := s.Info(ctx)
			if err != nil {
				p.t.Fatal(err)
			}
			cons, err := p.js.Consumer(ctx, c[0], c[1])
			if err != nil {
				busy = true
				continue
			}
			ci := cons.CachedInfo()
			if ci.NumPending > 0 || ci.NumAckPending > 0 || ci.Delivered.Stream < si.State.LastSeq {
				busy = true
			}
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatal("the pipeline did not become idle")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cli runs the sluice binary with the pipeline's environment.
func (p *pipeline) cli(args ...string) (stdout, stderr string, err error) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "sluice"), args...)
	cmd.Env = append(os.Environ(), p.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// mustCLI runs the sluice binary and fails the test when it fails.
func (p *pipeline) mustCLI(args ...string) string {
	p.t.Helper()
	out, errOut, err := p.cli(args...)
	if err != nil {
		p.t.Fatalf("sluice %q: %v\nstdout:\n%s\nstderr:\n%s", args, err, out, errOut)
	}
	return out
}
