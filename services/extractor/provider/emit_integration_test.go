package provider

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	nooptrace "go.opentelemetry.io/otel/trace/noop"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/internal/testinfra"
)

// An emit that uploaded its claim check and then failed to publish (here: the RAW stream
// is gone) is retried by a later attempt of another run: the bucket holds one object for
// the record, under its record id, whether the payload took one PUT or a multipart upload
// (which also leaves no staging object behind).
func TestIntegrationClaimCheckRetryLeavesOneObject(t *testing.T) {
	env := testinfra.Require(t, testinfra.S3)
	_, js := servicetest.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bucket := fmt.Sprintf("sluice-emit-test-%d", time.Now().UnixNano())
	blobs, err := blob.New(blob.Config{Endpoint: env.S3Endpoint, Region: env.S3Region, Bucket: bucket,
		AccessKey: env.S3AccessKey, SecretKey: env.S3SecretKey, PartSize: 5 << 20, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := blobs.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		emptyBucket(t, blobs)
		_, _ = blobs.Client().DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})
	meter := noopmetric.NewMeterProvider().Meter("")
	records, _ := meter.Int64Counter("records")
	byteCount, _ := meter.Int64Counter("bytes")
	em := &emitter{js: js, blobs: blobs, provider: "claimtest", inlineLimit: 1024, tracer: nooptrace.NewTracerProvider().Tracer(""),
		records: records, bytes: byteCount, datasets: map[string]bool{"items": true}}

	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name string
		size int
	}{
		{"single put", 200 << 10},
		{"multipart", 11<<20 + 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := make([]byte, tc.size)
			for i := range payload {
				payload[i] = byte(rng.IntN(256))
			}
			raw := func() Raw {
				return Raw{Dataset: "items", SourceKey: "page=" + tc.name, ContentType: "application/octet-stream", Body: bytes.NewReader(payload)}
			}
			// Attempt 1: the upload succeeds, the publish fails.
			if err := js.DeleteStream(ctx, bus.StreamRaw); err != nil {
				t.Fatal(err)
			}
			first := *em
			first.runID = "run-1"
			if err := first.Emit(ctx, raw()); err == nil {
				t.Fatal("emit succeeded without a RAW stream")
			}
			if err := bus.Provision(ctx, js, bus.DefaultProvision()); err != nil {
				t.Fatal(err)
			}
			// Attempt 2, from a re-planned run: the same record.
			second := *em
			second.runID = "run-2"
			if err := second.Emit(ctx, raw()); err != nil {
				t.Fatal(err)
			}
			keys := listKeys(t, blobs, "claims/claimtest/items/")
			for _, k := range keys {
				if strings.Contains(k, "page") || strings.Contains(k, "/staging/") || strings.Contains(k, "run-") {
					t.Errorf("object %s: want only record-id keys, no staging object left", k)
				}
			}
			t.Logf("objects after two attempts: %v", keys)
			if len(keys) != 1 {
				t.Fatalf("%d objects after an upload, a failed publish and a retry, want 1: %v", len(keys), keys)
			}
			got, err := blobs.Open(ctx, blobs.Bucket(), keys[0])
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			data, err := io.ReadAll(got)
			if err != nil || !bytes.Equal(data, payload) {
				t.Fatalf("object holds %d bytes (%v) that differ from the %d emitted", len(data), err, len(payload))
			}
			emptyBucket(t, blobs)
		})
	}
}

func listKeys(t *testing.T, blobs *blob.Store, prefix string) []string {
	t.Helper()
	out, err := blobs.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(blobs.Bucket()), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func emptyBucket(t *testing.T, blobs *blob.Store) {
	t.Helper()
	for _, k := range listKeys(t, blobs, "") {
		if _, err := blobs.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(blobs.Bucket()), Key: aws.String(k)}); err != nil {
			t.Error(err)
		}
	}
}
