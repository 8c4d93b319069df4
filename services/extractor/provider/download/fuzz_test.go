package download

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzGzipJSONArray feeds arbitrary bytes, as they come and gzipped, through the streaming
// decompressor and splitter with small limits. It must not panic; every part it emits must
// be a JSON array within the chunking bounds; decompression must stop at the limits; and
// every failure must be one of the package's kinds, so the extractor can tell a download
// worth retrying (Retryable) from its own failures.
func FuzzGzipJSONArray(f *testing.F) {
	for _, s := range []string{"[]", `[1,"a",{"b":[null,true]}]`, `[{"x":"]\"}"}]`, "[1 2]", "[", "", "not json"} {
		f.Add([]byte(s), true)
	}
	whole := gz(f, []byte(`[{"id":1},{"id":2},{"id":3},{"id":4}]`))
	f.Add(whole, false)
	f.Add(whole[:len(whole)-6], false)                                      // truncated: checksum and size cut off
	f.Add(whole[:12], false)                                                // truncated inside the deflate stream
	f.Add(append(bytes.Clone(whole), 'x'), false)                           // trailing garbage
	f.Add(gz(f, make([]byte, 256<<10)), false)                              // a small bomb: zeros
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff}, false) // corrupt deflate
	f.Add([]byte("\x1f\x8b"), false)
	lim := Limits{MaxCompressed: 64 << 10, MaxBytes: 128 << 10, MaxRatio: 20, RatioFloor: 16 << 10, MaxRowBytes: 2048}
	ch := Chunking{MaxRows: 3, MaxBytes: 4096}
	f.Fuzz(func(t *testing.T, data []byte, compress bool) {
		if compress {
			data = gz(t, data)
		}
		st, err := GzipJSONArray(context.Background(), bytes.NewReader(data), lim, ch, 0, func(_ context.Context, p Part) error {
			var rows []json.RawMessage
			if err := json.Unmarshal(p.Payload, &rows); err != nil {
				t.Fatalf("part %d is not a JSON array: %v: %q", p.Index, err, p.Payload)
			}
			if len(rows) != p.Rows || p.Rows == 0 || p.Rows > ch.MaxRows {
				t.Fatalf("part %d: %d rows, says %d, max %d", p.Index, len(rows), p.Rows, ch.MaxRows)
			}
			if p.Rows > 1 && len(p.Payload) > ch.MaxBytes {
				t.Fatalf("part %d of %d rows has %d bytes, max %d", p.Index, p.Rows, len(p.Payload), ch.MaxBytes)
			}
			return nil
		})
		if st.Bytes > lim.MaxBytes+bufSize || st.CompressedBytes > lim.MaxCompressed+bufSize {
			t.Fatalf("read %d compressed / %d decompressed bytes past the limits %+v", st.CompressedBytes, st.Bytes, lim)
		}
		if err != nil && !errors.Is(err, ErrTooLarge) && !Retryable(err) {
			t.Fatalf("unclassified error %v (%T)", err, errors.Unwrap(err))
		}
	})
}
