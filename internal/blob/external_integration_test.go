package blob

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

// TestExternalOpensThePinnedVersion reads an object of another account by a named
// credentials pair, exactly the version referenced: once replaced, it is gone.
func TestExternalOpensThePinnedVersion(t *testing.T) {
	other := testinfra.StartS3(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := NewClient(Endpoint{URL: other.Endpoint, Region: other.Region, AccessKey: other.AccessKey, SecretKey: other.SecretKey})
	bucket := "ext-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	put := func(body string) string {
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k.csv"), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Trim(aws.ToString(out.ETag), `"`)
	}
	etag := put("first")
	env := map[string]string{"SLUICE_S3_OTHER_ACCESS_KEY": other.AccessKey, "SLUICE_S3_OTHER_SECRET_KEY": other.SecretKey}
	x := NewExternal(func(k string) string { return env[k] }, Endpoint{})
	ref := Ref{Endpoint: other.Endpoint, Region: other.Region, Credentials: "other", Bucket: bucket, Key: "k.csv", ETag: etag}
	body, err := x.Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(body)
	body.Close()
	if string(got) != "first" {
		t.Fatalf("read %q, want %q", got, "first")
	}
	put("second")
	if _, err := x.Open(ctx, ref); !errors.Is(err, ErrObjectChanged) {
		t.Fatalf("open of a replaced object: %v, want ErrObjectChanged", err)
	}
	if _, err := x.Open(ctx, Ref{Endpoint: other.Endpoint, Region: other.Region, Credentials: "missing", Bucket: bucket, Key: "k.csv"}); err == nil || !strings.Contains(err.Error(), "SLUICE_S3_MISSING_ACCESS_KEY") {
		t.Fatalf("open with unknown credentials: %v, want an error naming the variables to set", err)
	}
}
