package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

func testStore(t *testing.T) *Store {
	t.Helper()
	env := testinfra.Require(t, testinfra.S3)
	store, err := New(Config{Endpoint: env.S3Endpoint, Region: env.S3Region, Bucket: "sluice-blob-test",
		AccessKey: env.S3AccessKey, SecretKey: env.S3SecretKey, PartSize: 5 << 20, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return store
}

func filled(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

// PutContent names objects by content: the same bytes twice make one object, and a
// multipart payload leaves no staging object behind.
func TestPutContentNamesByContent(t *testing.T) {
	store := testStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := fmt.Sprintf("content-test/%d/", time.Now().UnixNano())
	keyOf := func(sum []byte) string { return prefix + fmt.Sprintf("%x", sum[:8]) }
	for _, size := range []int{1000, 11 << 20} {
		data := filled(size, 'a'+byte(size%20))
		var keys []string
		for range 2 {
			obj, err := store.PutContent(ctx, keyOf, prefix+"staging/x", "application/octet-stream", bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, obj.Key)
			r, err := store.Open(ctx, obj.Bucket, obj.Key)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r)
			r.Close()
			if !bytes.Equal(got, data) {
				t.Fatalf("%d bytes: object %s holds %d bytes that differ", size, obj.Key, len(got))
			}
		}
		if keys[0] != keys[1] {
			t.Errorf("%d bytes stored twice under %v, want one key", size, keys)
		}
	}
	out, err := store.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(store.Bucket()), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 2 {
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		t.Errorf("objects under the prefix: %v, want the two payloads only", keys)
	}
}

// The copy to the content key insists on the upload it follows: if another attempt
// replaced the staging object meanwhile, the copy fails instead of filing the other
// attempt's bytes under this content key.
func TestCopyRefusesReplacedStaging(t *testing.T) {
	store := testStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	staging := fmt.Sprintf("content-test/%d/staging", time.Now().UnixNano())
	mine, err := store.Put(ctx, staging, "application/octet-stream", bytes.NewReader(filled(6<<20, 'm')))
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := store.Put(ctx, staging, "application/octet-stream", bytes.NewReader(filled(6<<20, 't')))
	if err != nil {
		t.Fatal(err)
	}
	if mine.etag == nil || theirs.etag == nil {
		t.Fatal("multipart uploads returned no ETag")
	}
	if err := store.copy(ctx, mine, staging+"-mine", "application/octet-stream"); err == nil {
		t.Error("copied a staging object that another upload replaced")
	}
	if err := store.copy(ctx, theirs, staging+"-theirs", "application/octet-stream"); err != nil {
		t.Errorf("copy of the current staging object: %v", err)
	}
}
