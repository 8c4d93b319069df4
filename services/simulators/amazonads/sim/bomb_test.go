package sim

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"testing"
)

func TestGzipBombIsValidAndSmall(t *testing.T) {
	t.Parallel()
	for _, target := range []int64{bombChunk, 3 << 20, 16 << 20} {
		t.Run(fmt.Sprint(target), func(t *testing.T) {
			b, err := buildBomb(target)
			if err != nil {
				t.Fatal(err)
			}
			var body bytes.Buffer
			if err := b.writeTo(context.Background(), &body); err != nil {
				t.Fatal(err)
			}
			if int64(body.Len()) != b.size() {
				t.Fatalf("wrote %d bytes, size() says %d", body.Len(), b.size())
			}
			zr, err := gzip.NewReader(&body)
			if err != nil {
				t.Fatal(err)
			}
			zr.Multistream(false) // one gzip member, not a concatenation
			var first, last byte
			n, err := io.Copy(writerFunc(func(p []byte) (int, error) {
				if first == 0 {
					first = p[0]
				}
				last = p[len(p)-1]
				return len(p), nil
			}), zr)
			if err != nil {
				t.Fatalf("decompress (checks CRC and size): %v", err)
			}
			if n != b.uncompressed || n < target-bombChunk-(64<<10) {
				t.Errorf("decompressed %d bytes, want %d (~%d)", n, b.uncompressed, target)
			}
			if first != '[' || last != ']' {
				t.Errorf("content %q…%q is not a JSON array", first, last)
			}
			if ratio := n / b.size(); ratio < 300 {
				t.Errorf("compression ratio %d, want a bomb (> 300)", ratio)
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
