package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/envelope"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/internal/staging"
	"github.com/sluice-dev/sluice/internal/telemetry"
	"github.com/sluice-dev/sluice/internal/testinfra"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// harness runs the staging-store binary against a private NATS server and a Mongo
// database of its own.
type harness struct {
	t     *testing.T
	js    jetstream.JetStream
	store *staging.Store
	proc  *testinfra.Proc
	bin   string
	vars  []string
}

func startStagingStore(t *testing.T, extraEnv ...string) *harness {
	t.Helper()
	env := testinfra.Require(t, testinfra.Mongo)
	natsURL, js := servicetest.JetStream(t)
	ctx := context.Background()
	bin := testinfra.Binaries(t, "sluice-staging-store")
	db := "sluice_test_" + randHex(4)
	store, err := staging.Open(ctx, staging.Config{URI: env.MongoURI, Database: db, WriteConcern: "1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = store.Drop(context.Background())
		_ = store.Close(context.Background())
	})
	vars := append([]string{
		"SLUICE_NATS_URL=" + natsURL, "SLUICE_HTTP_ADDR=127.0.0.1:0", "SLUICE_LOG_FORMAT=text",
		"SLUICE_MONGO_URI=" + env.MongoURI, "SLUICE_MONGO_DATABASE=" + db, "SLUICE_MONGO_WRITE_CONCERN=1",
		"SLUICE_BATCH_WAIT=20ms",
	}, extraEnv...)
	h := &harness{t: t, js: js, store: store, bin: bin, vars: vars}
	h.start()
	t.Cleanup(func() {
		if err := h.proc.Stop(20 * time.Second); err != nil {
			t.Errorf("stop staging-store: %v\n%s", err, h.proc.Tail(3000))
		}
	})
	return h
}

// start runs a staging-store process; restarting is stopping the old one and calling start.
func (h *harness) start() {
	h.t.Helper()
	p, err := testinfra.StartProc("staging-store", filepath.Join(h.bin, "sluice-staging-store"), nil, h.vars, h.t.TempDir())
	if err != nil {
		h.t.Fatal(err)
	}
	h.proc = p
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// publishRaw publishes rec to RAW under a trace of its own and returns the trace id.
func (h *harness) publishRaw(rec *sluicev1.Record) string {
	h.t.Helper()
	tid, _ := trace.TraceIDFromHex(randHex(16))
	sid, _ := trace.SpanIDFromHex(randHex(8))
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	if _, err := bus.Publish(ctx, h.js, bus.Message{Subject: bus.RawSubject(rec.GetProvider(), rec.GetDataset()), MsgID: rec.GetId(), Body: rec,
		RecordID: rec.GetId(), Provider: rec.GetProvider(), Dataset: rec.GetDataset()}); err != nil {
		h.t.Fatal(err)
	}
	return telemetry.TraceID(ctx)
}

// staged reads n messages from STAGED (waiting up to 30 s) and fails on any extra one.
func (h *harness) staged(n int) []*sluicev1.Record {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := h.js.OrderedConsumer(ctx, bus.StreamStaged, jetstream.OrderedConsumerConfig{})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*sluicev1.Record
	for len(out) < n {
		msg, err := cons.Next(jetstream.FetchMaxWait(30 * time.Second))
		if err != nil {
			h.t.Fatalf("after %d of %d staged records: %v\nstaging-store log:\n%s", len(out), n, err, h.proc.Tail(3000))
		}
		rec := &sluicev1.Record{}
		if err := proto.Unmarshal(msg.Data(), rec); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, rec)
	}
	if msg, err := cons.Next(jetstream.FetchMaxWait(time.Second)); err == nil {
		h.t.Fatalf("unexpected extra staged message on %s", msg.Subject())
	}
	return out
}

func TestStagesRecordsOnceWithMetadataAndTrace(t *testing.T) {
	h := startStagingStore(t)
	at := time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)
	inline := envelope.NewInline(envelope.Source{Provider: "acme", Dataset: "orders", SourceKey: "page=1", RunID: "run-1",
		ExtractedAt: at, ContentType: "application/json"}, []byte(`[{"id":1}]`))
	claim := envelope.NewClaimCheck(envelope.Source{Provider: "acme", Dataset: "orders", SourceKey: "page=2", RunID: "run-1",
		ExtractedAt: at, ContentType: "application/json", ContentEncoding: "gzip"},
		&sluicev1.ClaimCheck{Bucket: "claims", Key: "acme/orders/run-1/x", Size: 4096, Sha256: make([]byte, 32)})
	traceInline := h.publishRaw(inline)
	h.publishRaw(claim)
	got := h.staged(2)
	for _, rec := range got {
		if rec.GetStagedAt() == nil {
			t.Errorf("staged record %s has no staged_at", rec.GetId())
		}
	}

	doc, err := h.store.Get(context.Background(), "acme", inline.GetId())
	if err != nil {
		t.Fatal(err)
	}
	if doc.TraceID != traceInline {
		t.Errorf("document trace id %q, want the record's trace %q", doc.TraceID, traceInline)
	}
	if doc.RunID != "run-1" || doc.Dataset != "orders" || doc.SourceKey != "page=1" || !doc.ExtractedAt.Equal(at) || string(doc.Payload) != `[{"id":1}]` {
		t.Errorf("document %+v", doc)
	}
	cdoc, err := h.store.Get(context.Background(), "acme", claim.GetId())
	if err != nil {
		t.Fatal(err)
	}
	if cdoc.S3Key != "acme/orders/run-1/x" || cdoc.ContentEncoding != "gzip" || cdoc.Size != 4096 {
		t.Errorf("claim-checked document %+v", cdoc)
	}

	// The same record published again (an extractor retried after a crash, past the
	// publish dedupe window): staged once, published to STAGED again, which is harmless.
	if _, err := bus.Publish(context.Background(), h.js, bus.Message{Subject: bus.RawSubject("acme", "orders"), MsgID: inline.GetId() + ":again", Body: inline,
		RecordID: inline.GetId(), Provider: "acme", Dataset: "orders"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := h.js.Consumer(context.Background(), bus.StreamRaw, "staging-store")
		if err == nil && info.CachedInfo().AckFloor.Stream >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the duplicate record was not acked\n%s", h.proc.Tail(3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	n, err := h.store.Count(context.Background(), "acme", staging.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d documents staged, want 2", n)
	}
}

func TestInvalidRecordGoesToTheDLQ(t *testing.T) {
	h := startStagingStore(t)
	rec := envelope.NewInline(envelope.Source{Provider: "acme", Dataset: "orders", SourceKey: "k", ExtractedAt: time.Now(), ContentType: "application/json"}, []byte(`[]`))
	rec.Id = "forged"
	h.publishRaw(rec)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := h.js.OrderedConsumer(ctx, bus.StreamDLQ, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(30 * time.Second))
	if err != nil {
		t.Fatalf("no dead letter: %v\n%s", err, h.proc.Tail(3000))
	}
	dl := &sluicev1.DeadLetter{}
	if err := proto.Unmarshal(msg.Data(), dl); err != nil {
		t.Fatal(err)
	}
	if msg.Subject() != "sluice.dlq.stage.acme.orders" || dl.GetStage() != "stage" || !strings.Contains(dl.GetReason(), "invalid record") {
		t.Errorf("dead letter on %s: stage %q reason %q", msg.Subject(), dl.GetStage(), dl.GetReason())
	}
	if n, _ := h.store.Count(context.Background(), "acme", staging.Filter{}); n != 0 {
		t.Errorf("an invalid record was staged")
	}
}

func TestRetentionDeletesExpiredDocuments(t *testing.T) {
	h := startStagingStore(t, "SLUICE_STAGING_RETENTION=2s", "SLUICE_STAGING_RETENTION_INTERVAL=500ms")
	for i := range 3 {
		h.publishRaw(envelope.NewInline(envelope.Source{Provider: "acme", Dataset: "orders", SourceKey: fmt.Sprint(i), ExtractedAt: time.Now(), ContentType: "application/json"}, []byte(`[]`)))
	}
	h.staged(3)
	n, err := h.store.Count(context.Background(), "acme", staging.Filter{})
	if err != nil || n != 3 {
		t.Fatalf("%d documents staged (%v), want 3", n, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for n > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d documents still staged long after the retention age\n%s", n, h.proc.Tail(3000))
		}
		time.Sleep(200 * time.Millisecond)
		if n, err = h.store.Count(context.Background(), "acme", staging.Filter{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRestartedStagingStoreKeepsStaging(t *testing.T) {
	h := startStagingStore(t)
	rec := func(i int) *sluicev1.Record {
		return envelope.NewInline(envelope.Source{Provider: "acme", Dataset: "orders", SourceKey: fmt.Sprint(i), ExtractedAt: time.Now(), ContentType: "application/json"}, []byte(`[]`))
	}
	h.publishRaw(rec(1))
	h.staged(1)
	if err := h.proc.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	h.start() // ensures the existing indexes again
	h.publishRaw(rec(2))
	if got := h.staged(2); got[1].GetSourceKey() != "2" {
		t.Errorf("second staged record %q", got[1].GetSourceKey())
	}
}
