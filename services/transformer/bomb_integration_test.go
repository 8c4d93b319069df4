package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/envelope"
	"github.com/sluice-dev/sluice/internal/servicetest"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// TestGzipBombIsDeadLetteredNamingTheBound: a staged record whose gzip payload inflates
// far beyond its size (8 MiB of rows in a few KiB) is dead-lettered at once, with a
// reason that names --max-decompression-ratio, instead of being decompressed whole.
func TestGzipBombIsDeadLetteredNamingTheBound(t *testing.T) {
	natsURL, js := servicetest.JetStream(t)
	ctx := context.Background()
	registerItemsSpec(t, ctx, js)

	var raw bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&raw, gzip.BestCompression)
	zw.Write([]byte("["))
	row := []byte(`{"id":1,"name":"` + strings.Repeat("a", 200) + `","quantity":1},`)
	for range (8 << 20) / len(row) {
		zw.Write(row)
	}
	zw.Write([]byte(`{"id":2,"name":"b","quantity":1}]`))
	zw.Close()

	startTransformer(t, "SLUICE_NATS_URL="+natsURL, "SLUICE_S3_ENDPOINT=http://127.0.0.1:1", "SLUICE_MAX_DECOMPRESSION_RATIO=50")
	rec := envelope.NewInline(envelope.Source{Provider: "acme", Dataset: "items", SourceKey: "bomb", RunID: "run",
		ExtractedAt: time.Now().UTC(), ContentType: "application/json", ContentEncoding: "gzip"}, raw.Bytes())
	if _, err := bus.Publish(ctx, js, bus.Message{Subject: bus.StagedSubject("acme", "items"), MsgID: rec.GetId(), Body: rec,
		RecordID: rec.GetId(), Provider: "acme", Dataset: "items"}); err != nil {
		t.Fatal(err)
	}
	dlq, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, err := dlq.GetLastMsgForSubject(ctx, "sluice.dlq.transform.acme.items")
		if err == nil {
			dl := &sluicev1.DeadLetter{}
			if err := proto.Unmarshal(m.Data, dl); err != nil {
				t.Fatal(err)
			}
			if dl.GetRecordId() != rec.GetId() || !strings.Contains(dl.GetReason(), "--max-decompression-ratio 50") {
				t.Fatalf("dead letter: record %s reason %q; want the bomb, naming the bound", dl.GetRecordId(), dl.GetReason())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the gzip bomb was not dead-lettered")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
