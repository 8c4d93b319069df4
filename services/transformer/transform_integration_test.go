package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/nats-io/nats.go/jetstream"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/envelope"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
	"github.com/sluice-dev/sluice/internal/testinfra"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestClaimCheckedGzipReportBecomesRowBatches runs the transformer binary over a staged
// record whose gzipped payload lives in S3: rows come out in bounded parts, the bad row
// goes to the DLQ with its index, a redelivery re-publishes nothing new and a replay does.
func TestClaimCheckedGzipReportBecomesRowBatches(t *testing.T) {
	env := testinfra.Require(t, testinfra.S3)
	natsURL, js := servicetest.JetStream(t)
	ctx := context.Background()

	blobs, err := blob.New(blob.Config{Endpoint: env.S3Endpoint, Region: env.S3Region, Bucket: "sluice-test-" + randHex(4),
		AccessKey: env.S3AccessKey, SecretKey: env.S3SecretKey, PartSize: 5 << 20, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := blobs.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	const rows = 250
	var raw bytes.Buffer
	zw := gzip.NewWriter(&raw)
	zw.Write([]byte("["))
	for i := range rows {
		if i > 0 {
			zw.Write([]byte(","))
		}
		q := 1
		if i == 42 {
			q = -1 // breaks the spec's rule
		}
		fmt.Fprintf(zw, `{"id":%d,"name":"item %d","quantity":%d}`, i, i, q)
	}
	zw.Write([]byte("]"))
	zw.Close()
	obj, err := blobs.Put(ctx, "claims/acme/items/"+randHex(4), "application/json", &raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := blobs.Client()
		_, _ = c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key)})
		_, _ = c.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(obj.Bucket)})
	})

	registerItemsSpec(t, ctx, js)

	startTransformer(t, "SLUICE_NATS_URL="+natsURL,
		"SLUICE_S3_ENDPOINT="+env.S3Endpoint, "SLUICE_S3_ACCESS_KEY="+env.S3AccessKey, "SLUICE_S3_SECRET_KEY="+env.S3SecretKey,
		"SLUICE_S3_REGION="+env.S3Region, "SLUICE_S3_BUCKET="+obj.Bucket, "SLUICE_ROWS_PER_BATCH=100")

	rec := envelope.NewClaimCheck(envelope.Source{Provider: "acme", Dataset: "items", SourceKey: "report=1", RunID: "run",
		ExtractedAt: time.Now().UTC(), ContentType: "application/json", ContentEncoding: "gzip"},
		&sluicev1.ClaimCheck{Bucket: obj.Bucket, Key: obj.Key, Size: obj.Size, Sha256: obj.SHA256})
	publish := func(msgID, replay string) {
		t.Helper()
		m := bus.Message{Subject: bus.StagedSubject("acme", "items"), MsgID: msgID, Body: rec, RecordID: rec.GetId(), Provider: "acme", Dataset: "items"}
		if replay != "" {
			m.Header = nats.Header{bus.HeaderReplay: []string{replay}}
		}
		if _, err := bus.Publish(ctx, js, m); err != nil {
			t.Fatal(err)
		}
	}
	// settled waits until the transformer has acked n staged messages.
	settled := func(n uint64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			c, err := js.Consumer(ctx, bus.StreamStaged, "transformer")
			if err == nil && c.CachedInfo().AckFloor.Stream >= n && c.CachedInfo().NumAckPending == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the transformer did not settle %d staged messages", n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	rowsMsgs := func() map[string]*sluicev1.RowBatch {
		t.Helper()
		s, err := js.Stream(ctx, bus.StreamRows)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*sluicev1.RowBatch{}
		for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if err != nil {
				t.Fatal(err)
			}
			rb := &sluicev1.RowBatch{}
			if err := proto.Unmarshal(m.Data, rb); err != nil {
				t.Fatal(err)
			}
			out[m.Header.Get(bus.HeaderMsgID)] = rb
		}
		return out
	}

	publish(rec.GetId(), "")
	settled(1)
	first := rowsMsgs()
	if len(first) != 3 {
		t.Fatalf("%d row batches, want 3 parts of at most 100 rows", len(first))
	}
	seen := map[int64]bool{}
	for id, rb := range first {
		if !strings.HasPrefix(id, rec.GetId()+":v1:") || rb.GetTable() != "acme_items" || rb.GetRecordId() != rec.GetId() || len(rb.GetRows()) > 100 {
			t.Errorf("row batch %s: table %s record %s, %d rows", id, rb.GetTable(), rb.GetRecordId(), len(rb.GetRows()))
		}
		for _, r := range rb.GetRows() {
			seen[r.GetIndex()] = true
		}
	}
	if len(seen) != rows-1 || seen[42] {
		t.Errorf("%d distinct rows, row 42 included: %v; want %d without row 42", len(seen), seen[42], rows-1)
	}

	// The bad row is dead-lettered with its index and reason.
	dlq, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dlq.GetLastMsgForSubject(ctx, "sluice.dlq.transform.acme.items")
	if err != nil {
		t.Fatalf("no transform dead letter: %v", err)
	}
	dl := &sluicev1.DeadLetter{}
	if err := proto.Unmarshal(m.Data, dl); err != nil {
		t.Fatal(err)
	}
	if dl.GetRowIndex() != 42 || dl.GetRecordId() != rec.GetId() || !strings.Contains(dl.GetReason(), "quantity must not be negative") {
		t.Errorf("dead letter: row %d record %s reason %q", dl.GetRowIndex(), dl.GetRecordId(), dl.GetReason())
	}

	// A redelivery produces the same dedupe ids: ROWS keeps one copy.
	publish(rec.GetId()+":redelivered", "")
	settled(2)
	if n := len(rowsMsgs()); n != 3 {
		t.Errorf("after a redelivery ROWS holds %d row batches, want still 3", n)
	}
	// A replay produces new ids, so the loader sees the rows again.
	publish(rec.GetId()+":replay:r1", "r1")
	settled(3)
	after := rowsMsgs()
	replayed := 0
	for id := range after {
		if strings.HasSuffix(id, ":replay:r1") {
			replayed++
		}
	}
	if replayed != 3 || len(after) != 6 {
		t.Errorf("after a replay: %d replayed row batches of %d, want 3 of 6", replayed, len(after))
	}
}

// startTransformer runs the transformer binary with vars (and a free HTTP port, text
// logs) until the test ends, showing its log when the test failed.
func startTransformer(t *testing.T, vars ...string) *testinfra.Proc {
	t.Helper()
	bin := testinfra.Binaries(t, "sluice-transformer")
	proc, err := testinfra.StartProc("transformer", filepath.Join(bin, "sluice-transformer"), nil,
		append([]string{"SLUICE_HTTP_ADDR=127.0.0.1:0", "SLUICE_LOG_FORMAT=text"}, vars...), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := proc.Stop(20 * time.Second); err != nil {
			t.Errorf("stop transformer: %v", err)
		}
		if t.Failed() {
			t.Logf("transformer log:\n%s", proc.Tail(4000))
		}
	})
	return proc
}

// registerItemsSpec registers the acme/items spec the transformer tests run against.
func registerItemsSpec(t *testing.T, ctx context.Context, js jetstream.JetStream) {
	t.Helper()
	specs, err := specstore.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spec.Parse([]byte(`{"provider": "acme", "dataset": "items", "version": 1, "table": "acme_items",
		"format": {"type": "json_array"},
		"columns": [{"name": "id", "type": "bigint", "expr": "row.id"}, {"name": "name", "type": "text", "expr": "row.name"},
		            {"name": "quantity", "type": "integer", "expr": "row.quantity"}],
		"primary_key": ["id"],
		"rules": [{"name": "quantity_non_negative", "expr": "out.quantity >= 0", "message": "quantity must not be negative"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := specs.Register(ctx, sp); err != nil {
		t.Fatal(err)
	}
}
