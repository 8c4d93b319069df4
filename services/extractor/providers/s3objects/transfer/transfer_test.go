package transfer

import (
	"crypto/md5"
	"encoding/hex"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestPartSize(t *testing.T) {
	t.Parallel()
	cfg := Config{PartSize: 16 << 20, Concurrency: 4}
	for _, c := range []struct {
		size, want int64
	}{
		{0, 16 << 20},
		{16 << 20 * MaxParts, 16 << 20},
		{16<<20*MaxParts + 1, 17 << 20}, // just over: the next whole MiB
		{5 << 40, 525 << 20},            // 5 TiB, S3's largest object
	} {
		got := partSize(cfg, c.size)
		if got != c.want || (c.size+got-1)/got > MaxParts {
			t.Errorf("partSize(%d) = %d, want %d (≤ %d parts)", c.size, got, c.want, MaxParts)
		}
	}
}

func TestCompositeETag(t *testing.T) {
	t.Parallel()
	a, b := md5.Sum([]byte("a")), md5.Sum([]byte("b"))
	h := md5.New()
	h.Write(a[:])
	h.Write(b[:])
	want := hex.EncodeToString(h.Sum(nil)) + "-2"
	got, err := compositeETag([]types.CompletedPart{
		{PartNumber: aws.Int32(1), ETag: aws.String(`"` + hex.EncodeToString(a[:]) + `"`)},
		{PartNumber: aws.Int32(2), ETag: aws.String(hex.EncodeToString(b[:]))},
	})
	if err != nil || got != want {
		t.Fatalf("compositeETag = %s, %v; want %s", got, err, want)
	}
	if _, err := compositeETag([]types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String("not-md5")}}); err == nil {
		t.Fatal("a part ETag that is not an MD5 must fail the verification")
	}
}

func TestCopySource(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ bucket, key, version, want string }{
		{"b", "a/b.csv", "", "b/a/b.csv"},
		{"b", "dir with space/ü+%.bin", "", "b/dir%20with%20space/%C3%BC+%25.bin"},
		{"b", "k", "v 1", "b/k?versionId=v+1"},
	} {
		if got := CopySource(c.bucket, c.key, c.version); got != c.want {
			t.Errorf("CopySource(%q, %q, %q) = %q, want %q", c.bucket, c.key, c.version, got, c.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{DefaultConfig(), true},
		{Config{PartSize: MinPartSize - 1, Concurrency: 1}, false},
		{Config{PartSize: MaxPartSize + 1, Concurrency: 1}, false},
		{Config{PartSize: MinPartSize, Concurrency: 0}, false},
		{Config{PartSize: MinPartSize, Concurrency: 65}, false},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", c.cfg, err, c.ok)
		}
	}
}
