package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects/transfer"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects/transfer/transfertest"
)

// counting is the destination client's transport: it counts the part uploads sent.
type counting struct {
	transfertest.Parts
	base http.RoundTripper
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.Observe(r)
	return c.base.RoundTrip(r)
}

type world struct {
	a, b       blob.Endpoint // a: the shared server; b: a private one, another account
	aStore     *blob.Store
	srcBucket  string
	dstABucket string
	dstBBucket string
}

func newWorld(t *testing.T) world {
	infra := testinfra.Require(t, testinfra.S3)
	second := testinfra.StartS3(t)
	w := world{
		a:         blob.Endpoint{URL: infra.S3Endpoint, Region: infra.S3Region, AccessKey: infra.S3AccessKey, SecretKey: infra.S3SecretKey},
		b:         blob.Endpoint{URL: second.Endpoint, Region: second.Region, AccessKey: second.AccessKey, SecretKey: second.SecretKey},
		srcBucket: fmt.Sprintf("xfer-src-%d", time.Now().UnixNano()%1e9),
	}
	w.dstABucket, w.dstBBucket = w.srcBucket+"-dst", w.srcBucket+"-dst"
	var err error
	w.aStore, err = blob.New(blob.Config{Endpoint: w.a.URL, Region: w.a.Region, Bucket: w.srcBucket, AccessKey: w.a.AccessKey, SecretKey: w.a.SecretKey, PartSize: 8 << 20, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, b := range []struct {
		e      blob.Endpoint
		bucket string
	}{{w.a, w.srcBucket}, {w.a, w.dstABucket}, {w.b, w.dstBBucket}} {
		if _, err := blob.NewClient(b.e).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b.bucket)}); err != nil {
			t.Fatalf("create bucket %s: %v", b.bucket, err)
		}
	}
	return w
}

func (w world) put(t *testing.T, key string, seed uint64, size int64) transfer.Object {
	t.Helper()
	ctx := context.Background()
	if err := transfertest.Put(ctx, w.aStore, key, seed, size); err != nil {
		t.Fatal(err)
	}
	head, err := w.aStore.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(w.srcBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	return transfer.Object{Key: key, Size: aws.ToInt64(head.ContentLength), ETag: aws.ToString(head.ETag)}
}

// digest streams an object and returns its size and sha256.
func digest(t *testing.T, c *s3.Client, bucket, key string) (int64, []byte) {
	t.Helper()
	n, sum, err := transfertest.Digest(context.Background(), c, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	return n, sum
}

func TestCopyEverySizeBothModes(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	cfg := transfer.Config{PartSize: transfer.MinPartSize, Concurrency: 3}
	sizes := []int64{0, 1, 1000, transfer.MinPartSize - 1, transfer.MinPartSize, transfer.MinPartSize + 1, 3*transfer.MinPartSize + 12345}
	var objs []transfer.Object
	for i, size := range sizes {
		objs = append(objs, w.put(t, fmt.Sprintf("in/obj-%d", i), uint64(i+1), size))
	}
	cases := []struct {
		name   string
		dst    blob.Endpoint
		bucket string
		server bool
	}{
		{"server copy on one endpoint", w.a, w.dstABucket, true},
		{"stream between accounts", w.b, w.dstBBucket, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := blob.NewClient(c.dst)
			var parts, bytesCopied int64
			var mu sync.Mutex
			cp, err := transfer.NewCopier(transfer.Side{Client: blob.NewClient(w.a), Bucket: w.srcBucket}, transfer.Side{Client: dst, Bucket: c.bucket}, cfg, c.server,
				transfer.Observer{Part: func(_ transfer.Mode, n int64) { mu.Lock(); parts++; bytesCopied += n; mu.Unlock() }}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			for i, o := range objs {
				st, err := cp.Copy(ctx, o, "out/"+o.Key, &transfer.MemJournal{})
				if err != nil {
					t.Fatalf("copy %s (%d bytes): %v", o.Key, o.Size, err)
				}
				wantMode := transfer.ModeStream
				if c.server {
					wantMode = transfer.ModeServerCopy
				}
				if o.Size < cfg.PartSize {
					wantMode = transfer.ModeSingle
				}
				if !st.Done || st.Mode != wantMode || st.BytesDone != o.Size {
					t.Fatalf("%s: state %+v, want done in mode %s with %d bytes", o.Key, st, wantMode, o.Size)
				}
				n, sum := digest(t, dst, c.bucket, "out/"+o.Key)
				if n != o.Size || !bytes.Equal(sum, transfertest.SHA256(uint64(i+1), sizes[i])) {
					t.Fatalf("%s: copy has %d bytes (want %d) and differs from the source", o.Key, n, o.Size)
				}
				total += o.Size
			}
			if bytesCopied != total {
				t.Fatalf("observer saw %d bytes, copied %d", bytesCopied, total)
			}
		})
	}
}

func TestCopyResumesWithoutResendingParts(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	const parts = 8
	size := int64(parts*transfer.MinPartSize - 777)
	obj := w.put(t, "big", 42, size)
	cnt := &counting{base: http.DefaultTransport}
	dstEP := w.b
	dstEP.HTTP = &http.Client{Transport: cnt}
	dst := blob.NewClient(dstEP)
	cfg := transfer.Config{PartSize: transfer.MinPartSize, Concurrency: 2}
	j := &transfer.MemJournal{}

	// First attempt: cancelled once three parts are journalled, as a crash would stop it.
	first, cancel := context.WithCancel(ctx)
	var done int
	var mu sync.Mutex
	cp, err := transfer.NewCopier(transfer.Side{Client: blob.NewClient(w.a), Bucket: w.srcBucket}, transfer.Side{Client: dst, Bucket: w.dstBBucket}, cfg, false,
		transfer.Observer{Part: func(transfer.Mode, int64) {
			mu.Lock()
			defer mu.Unlock()
			if done++; done == 3 {
				cancel()
			}
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Copy(first, obj, "big", j); !errors.Is(err, context.Canceled) {
		t.Fatalf("first attempt: %v, want context.Canceled", err)
	}
	st, _, _ := j.Load(ctx)
	if st.UploadID == "" || st.Done {
		t.Fatalf("journal after the first attempt: %+v, want an open upload", st)
	}
	// What the server holds is the truth: list it as the resumed copy will.
	listed, err := dst.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(w.dstBBucket), Key: aws.String("big"), UploadId: aws.String(st.UploadID)})
	if err != nil {
		t.Fatal(err)
	}
	// Parts listed and journalled as verified are kept; one cut off by the cancel may
	// be listed too, with the wrong bytes, and must be sent again.
	kept := map[string]bool{}
	for _, p := range listed.Parts {
		n := aws.ToInt32(p.PartNumber)
		if st.PartETags[n-1] == strings.Trim(aws.ToString(p.ETag), `"`) {
			kept[fmt.Sprint(n)] = true
		}
	}
	if len(kept) < 3 || len(kept) == parts {
		t.Fatalf("server holds %d verified parts after the first attempt, want 3..%d", len(kept), parts-1)
	}
	before := cnt.Snapshot()

	cp2, err := transfer.NewCopier(transfer.Side{Client: blob.NewClient(w.a), Bucket: w.srcBucket}, transfer.Side{Client: dst, Bucket: w.dstBBucket}, cfg, false, transfer.Observer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err = cp2.Copy(ctx, obj, "big", j)
	if err != nil {
		t.Fatal(err)
	}
	after := cnt.Snapshot()
	for n := range kept {
		if after[n] != before[n] {
			t.Errorf("part %s was uploaded before the crash and sent again on resume", n)
		}
	}
	for n := 1; n <= parts; n++ {
		if after[fmt.Sprint(n)] == 0 {
			t.Errorf("part %d was never sent", n)
		}
	}
	last := st.Attempts[len(st.Attempts)-1]
	if last.Listed != len(kept) || last.Listed+last.Sent != parts {
		t.Errorf("resumed attempt %+v: want %d kept and %d sent", last, len(kept), parts-len(kept))
	}
	n, sum := digest(t, dst, w.dstBBucket, "big")
	if n != size || !bytes.Equal(sum, transfertest.SHA256(42, size)) {
		t.Fatalf("resumed copy differs from the source (%d bytes)", n)
	}
	if !strings.HasSuffix(st.DstETag, fmt.Sprintf("-%d", parts)) {
		t.Errorf("final ETag %s: want a %d-part multipart ETag", st.DstETag, parts)
	}
}

func TestCopyNoticesSourceChange(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	obj := w.put(t, "changing", 1, 2*transfer.MinPartSize)
	w.put(t, "changing", 2, 2*transfer.MinPartSize) // replaced after listing
	cp, err := transfer.NewCopier(transfer.Side{Client: blob.NewClient(w.a), Bucket: w.srcBucket}, transfer.Side{Client: blob.NewClient(w.b), Bucket: w.dstBBucket},
		transfer.Config{PartSize: transfer.MinPartSize, Concurrency: 2}, false, transfer.Observer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Copy(ctx, obj, "changing", &transfer.MemJournal{}); !errors.Is(err, transfer.ErrSourceChanged) {
		t.Fatalf("copy of a replaced source: %v, want ErrSourceChanged", err)
	}
}

// TestCopyHundredsOfMB streams a 300 MiB object between accounts with 16 MiB parts, 4 in
// flight: larger than any buffer the copy may hold.
func TestCopyHundredsOfMB(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	const size = 300 << 20
	obj := w.put(t, "huge", 300, size)
	dst := blob.NewClient(w.b)
	cp, err := transfer.NewCopier(transfer.Side{Client: blob.NewClient(w.a), Bucket: w.srcBucket}, transfer.Side{Client: dst, Bucket: w.dstBBucket},
		transfer.Config{PartSize: 16 << 20, Concurrency: 4}, false, transfer.Observer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := cp.Copy(ctx, obj, "huge", &transfer.MemJournal{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Parts != 19 || st.DstETag == "" {
		t.Fatalf("state %+v: want 19 parts and an ETag", st)
	}
	n, sum := digest(t, dst, w.dstBBucket, "huge")
	if n != size || !bytes.Equal(sum, transfertest.SHA256(300, size)) {
		t.Fatalf("copy has %d bytes and differs from the source", n)
	}
}

// failOnce answers the first upload of one part with a 500, as a flaky target would.
type failOnce struct {
	counting
	part   string
	failed bool
}

func (f *failOnce) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == f.part && !f.failed {
		f.failed = true
		f.Observe(r)
		return &http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error", Header: http.Header{},
			Body: io.NopCloser(strings.NewReader("<Error><Code>InternalError</Code></Error>")), Request: r}, nil
	}
	return f.counting.RoundTrip(r)
}

// TestCopyRetriesAFailedStreamedPart: a streamed part cannot be replayed by the SDK, so
// the copy sends it again from a new ranged GET.
func TestCopyRetriesAFailedStreamedPart(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	size := int64(3 * transfer.MinPartSize)
	obj := w.put(t, "flaky", 7, size)
	tr := &failOnce{counting: counting{base: http.DefaultTransport}, part: "2"}
	ep := w.b
	ep.HTTP = &http.Client{Transport: tr}
	dst := blob.NewClient(ep)
	cp, err := transfer.NewCopier(transfer.Side{Client: blob.NewClient(w.a), Bucket: w.srcBucket}, transfer.Side{Client: dst, Bucket: w.dstBBucket},
		transfer.Config{PartSize: transfer.MinPartSize, Concurrency: 2}, false, transfer.Observer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Copy(ctx, obj, "flaky", &transfer.MemJournal{}); err != nil {
		t.Fatal(err)
	}
	if got := tr.Snapshot()["2"]; got < 2 {
		t.Fatalf("part 2 was sent %d times, want a retry after the 500", got)
	}
	n, sum := digest(t, dst, w.dstBBucket, "flaky")
	if n != size || !bytes.Equal(sum, transfertest.SHA256(7, size)) {
		t.Fatal("the copy differs from the source")
	}
}
