package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/envelope"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/internal/testinfra"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// cuttingProxy forwards to the S3 server and, while cut is positive, drops the
// connection of every object download after cut bytes of body: an object store that
// fails mid-read. The request and its signature pass unchanged.
type cuttingProxy struct {
	rp   *httputil.ReverseProxy
	cut  atomic.Int64
	cuts atomic.Int64
}

func newCuttingProxy(t *testing.T, target string) *cuttingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttingProxy{rp: httputil.NewSingleHostReverseProxy(u)}
	p.rp.ModifyResponse = func(resp *http.Response) error {
		if n := p.cut.Load(); n > 0 && resp.Request.Method == http.MethodGet && resp.StatusCode == http.StatusOK && strings.Count(resp.Request.URL.Path, "/") > 1 {
			p.cuts.Add(1)
			resp.Body = &cutBody{rc: resp.Body, left: n}
		}
		return nil
	}
	p.rp.ErrorLog = nil
	return p
}

func (p *cuttingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.rp.ServeHTTP(w, r) }

type cutBody struct {
	rc   io.ReadCloser
	left int64
}

func (c *cutBody) Read(b []byte) (int, error) {
	if c.left <= 0 {
		return 0, errors.New("connection cut by the test")
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.rc.Read(b)
	c.left -= int64(n)
	return n, err
}

func (c *cutBody) Close() error { return c.rc.Close() }

// TestS3FailureMidRecordIsRetriedNotDeadLettered runs the transformer over a claim-checked
// record whose download from S3 breaks in the middle, after several row batches were
// published. Then the transformer is restarted with a larger --rows-per-batch (a rollout)
// and the object store heals. Required: the record is retried, not dead-lettered (only a
// payload that cannot be parsed is permanent), and every row reaches ROWS although the
// redelivery cuts its batches elsewhere (batch ids name rows, not part numbers: with
// `rec:v1:N` the larger batches deduped against the first delivery's small ones and their
// rows were lost). The bad row's dead letter holds that row only and points at the record.
func TestS3FailureMidRecordIsRetriedNotDeadLettered(t *testing.T) {
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
	const rows, bad = 600, 42
	var raw bytes.Buffer
	zw := gzip.NewWriter(&raw)
	zw.Write([]byte("["))
	for i := range rows {
		if i > 0 {
			zw.Write([]byte(","))
		}
		q := 1
		if i == bad {
			q = -1
		}
		// Random names keep gzip from compressing the file to nothing, so that a cut in the
		// middle of the compressed bytes is a cut in the middle of the rows.
		fmt.Fprintf(zw, `{"id":%d,"name":"item %s","quantity":%d}`, i, randHex(16), q)
	}
	zw.Write([]byte("]"))
	zw.Close()
	size := int64(raw.Len())
	obj, err := blobs.Put(ctx, "claims/acme/items/"+randHex(4), "application/json", &raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := blobs.Client()
		_, _ = c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key)})
		_, _ = c.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(obj.Bucket)})
	})
	proxy := newCuttingProxy(t, env.S3Endpoint)
	proxy.cut.Store(size * 6 / 10)
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)

	registerItemsSpec(t, ctx, js)

	bin := testinfra.Binaries(t, "sluice-transformer")
	start := func(rowsPerBatch int) *testinfra.Proc {
		t.Helper()
		proc, err := testinfra.StartProc("transformer", filepath.Join(bin, "sluice-transformer"), nil, []string{
			"SLUICE_NATS_URL=" + natsURL, "SLUICE_HTTP_ADDR=127.0.0.1:0", "SLUICE_LOG_FORMAT=text",
			"SLUICE_S3_ENDPOINT=" + srv.URL, "SLUICE_S3_ACCESS_KEY=" + env.S3AccessKey, "SLUICE_S3_SECRET_KEY=" + env.S3SecretKey,
			"SLUICE_S3_REGION=" + env.S3Region, "SLUICE_S3_BUCKET=" + obj.Bucket, fmt.Sprintf("SLUICE_ROWS_PER_BATCH=%d", rowsPerBatch),
		}, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = proc.Stop(20 * time.Second)
			if t.Failed() {
				t.Logf("transformer (%d rows per batch) log:\n%s", rowsPerBatch, proc.Tail(4000))
			}
		})
		return proc
	}
	const dataVersion = 1733500000123456789 // the provider's data version, carried to every batch
	rowsIn := func() (map[int64]bool, int) {
		t.Helper()
		s, err := js.Stream(ctx, bus.StreamRows)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int64]bool{}
		for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if err != nil {
				t.Fatal(err)
			}
			rb := &sluicev1.RowBatch{}
			if err := proto.Unmarshal(m.Data, rb); err != nil {
				t.Fatal(err)
			}
			if rb.GetDataVersion() != dataVersion {
				t.Errorf("row batch %s carries data version %d, want the record's %d", m.Header.Get(bus.HeaderMsgID), rb.GetDataVersion(), int64(dataVersion))
			}
			for _, r := range rb.GetRows() {
				seen[r.GetIndex()] = true
			}
		}
		return seen, int(info.State.Msgs)
	}

	rec := envelope.NewClaimCheck(envelope.Source{Provider: "acme", Dataset: "items", SourceKey: "report=1", RunID: "run",
		ExtractedAt: time.Now().UTC(), ContentType: "application/json", ContentEncoding: "gzip", DataVersion: dataVersion},
		&sluicev1.ClaimCheck{Bucket: obj.Bucket, Key: obj.Key, Size: obj.Size, Sha256: obj.SHA256})
	first := start(30)
	if _, err := bus.Publish(ctx, js, bus.Message{Subject: bus.StagedSubject("acme", "items"), MsgID: rec.GetId(), Body: rec,
		RecordID: rec.GetId(), Provider: "acme", Dataset: "items"}); err != nil {
		t.Fatal(err)
	}
	// Wait for a cut download that published some of the rows.
	deadline := time.Now().Add(60 * time.Second)
	for {
		seen, _ := rowsIn()
		if proxy.cuts.Load() >= 1 && len(seen) >= 90 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no partial transform: %d cut downloads, %d rows in ROWS", proxy.cuts.Load(), len(seen))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := first.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	partial, _ := rowsIn()
	if len(partial) >= rows-1 {
		t.Fatalf("the cut download published all %d rows: cut later in the file", len(partial))
	}

	proxy.cut.Store(0) // S3 heals
	start(250)
	deadline = time.Now().Add(60 * time.Second)
	for {
		c, err := js.Consumer(ctx, bus.StreamStaged, "transformer")
		if err == nil && c.CachedInfo().AckFloor.Stream >= 1 && c.CachedInfo().NumAckPending == 0 && c.CachedInfo().NumPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the transformer did not settle the record")
		}
		time.Sleep(50 * time.Millisecond)
	}

	seen, msgs := rowsIn()
	var missing []int64
	for i := range int64(rows) {
		if i != bad && !seen[i] {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 || seen[bad] {
		t.Errorf("after the retry with larger batches %d rows are missing from ROWS (first %v); bad row present: %v; %d messages, %d rows before the restart",
			len(missing), missing[:min(len(missing), 5)], seen[bad], msgs, len(partial))
	}

	// The DLQ holds the bad row alone, never the record as a whole.
	dlq, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dlq.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	letters := 0
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		dl := &sluicev1.DeadLetter{}
		if err := proto.Unmarshal(m.Data, dl); err != nil {
			t.Fatal(err)
		}
		letters++
		if dl.GetRowIndex() != bad {
			t.Errorf("dead letter of row %d: %s", dl.GetRowIndex(), dl.GetReason())
			continue
		}
		var row map[string]any
		if err := json.Unmarshal(dl.GetData(), &row); err != nil || fmt.Sprint(row["id"]) != fmt.Sprint(bad) || len(dl.GetData()) > 200 {
			t.Errorf("row letter data %q (%v): want the row's own bytes", dl.GetData(), err)
		}
		if dl.GetRecordId() != rec.GetId() || dl.GetStream() != bus.StreamStaged || dl.GetStreamSequence() != 1 || dl.GetContentType() != "application/json" {
			t.Errorf("row letter reference: record %s, %s sequence %d, content type %q", dl.GetRecordId(), dl.GetStream(), dl.GetStreamSequence(), dl.GetContentType())
		}
	}
	if letters != 1 {
		t.Errorf("%d dead letters, want 1 (row %d)", letters, bad)
	}
}
