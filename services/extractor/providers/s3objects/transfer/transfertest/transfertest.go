// Package transfertest generates objects of any size on the fly for transfer tests and
// benchmarks: deterministic bytes from a seed, never stored anywhere but the S3 server.
package transfertest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/internal/blob"
)

// Reader yields size deterministic bytes derived from seed (xorshift64*): the same seed
// and size always give the same bytes, and any two seeds differ everywhere.
type Reader struct {
	state uint64
	left  int64
	word  [8]byte
	have  int
}

// NewReader returns the bytes of object (seed, size).
func NewReader(seed uint64, size int64) *Reader {
	return &Reader{state: seed*0x9E3779B97F4A7C15 | 1, left: size}
}

func (r *Reader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		if r.have == 0 {
			r.state ^= r.state >> 12
			r.state ^= r.state << 25
			r.state ^= r.state >> 27
			binary.LittleEndian.PutUint64(r.word[:], r.state*0x2545F4914F6CDD1D)
			r.have = 8
		}
		c := copy(p[n:], r.word[8-r.have:])
		r.have -= c
		n += c
	}
	r.left -= int64(n)
	return n, nil
}

// SHA256 is the digest of object (seed, size).
func SHA256(seed uint64, size int64) []byte {
	h := sha256.New()
	_, _ = io.Copy(h, NewReader(seed, size))
	return h.Sum(nil)
}

// Put streams object (seed, size) to key in store's bucket (multipart above its part
// size, so memory stays bounded whatever the size).
func Put(ctx context.Context, store *blob.Store, key string, seed uint64, size int64) error {
	if _, err := store.Put(ctx, key, "application/octet-stream", NewReader(seed, size)); err != nil {
		return fmt.Errorf("generate %s (%d bytes): %w", key, size, err)
	}
	return nil
}

// Digest streams an object and returns its size and sha256.
func Digest(ctx context.Context, c *s3.Client, bucket, key string) (int64, []byte, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return 0, nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	return n, h.Sum(nil), err
}
