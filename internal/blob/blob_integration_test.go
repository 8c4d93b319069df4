package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

func TestPutAndOpenRoundTrip(t *testing.T) {
	env := testinfra.Require(t, testinfra.S3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store, err := New(Config{Endpoint: env.S3Endpoint, Region: env.S3Region, Bucket: "sluice-blob-test",
		AccessKey: env.S3AccessKey, SecretKey: env.S3SecretKey, PartSize: 5 << 20, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBucket(ctx); err != nil {
		t.Fatalf("EnsureBucket is not idempotent: %v", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1000, 5 << 20, 12<<20 + 17} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(rng.IntN(256))
			}
			key := "test/" + strconv.Itoa(size) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			obj, err := store.Put(ctx, key, "application/octet-stream", bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if obj.Size != int64(size) || !bytes.Equal(obj.SHA256, sum[:]) {
				t.Fatalf("object %+v: want size %d and the payload's sha256", obj, size)
			}
			r, err := store.Open(ctx, obj.Bucket, obj.Key)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(data))
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{Region: "us-east-1", Bucket: "b", PartSize: 5 << 20, Concurrency: 4}
	cases := []struct {
		name   string
		mutate func(*Config)
		valid  bool
	}{
		{"valid", func(*Config) {}, true},
		{"endpoint without scheme", func(c *Config) { c.Endpoint = "127.0.0.1:9000" }, false},
		{"no bucket", func(c *Config) { c.Bucket = "" }, false},
		{"small parts", func(c *Config) { c.PartSize = 1 << 20 }, false},
		{"key without secret", func(c *Config) { c.AccessKey = "k" }, false},
		{"no concurrency", func(c *Config) { c.Concurrency = 0 }, false},
	}
	for _, c := range cases {
		cfg := ok
		c.mutate(&cfg)
		if err := cfg.Validate(); (err == nil) != c.valid {
			t.Errorf("%s: Validate() = %v", c.name, err)
		}
	}
}
