package rowsource

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

// chunkReader returns at most n bytes per Read, so sequences split across reads.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

func TestUTF8GuardFindsInvalidSequencesAcrossReads(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		bad  []int64
	}{
		{"ascii", `{"a":"b"}`, nil},
		{"multi-byte", "{\"a\":\"h\u00e9llo \u65e5\U0001F600\"}", nil},
		{"lone continuation", "ab\x80cd", []int64{2}},
		{"latin-1", "caf\xe9!", []int64{3}},
		{"truncated 3-byte sequence", "x\xe2\x82y", []int64{1, 2}},
		{"truncated at the end", "xy\xf0\x9f", []int64{2, 3}},
		{"overlong", "a\xc0\xafb", []int64{1, 2}},
		{"two apart", "\xffabc\xfe", []int64{0, 4}},
	}
	for _, tt := range tests {
		for _, n := range []int{1, 2, 3, 5, 64} {
			g := newUTF8Guard(chunkReader{bytes.NewReader([]byte(tt.in)), n})
			if _, err := io.ReadAll(g); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(g.bad, tt.bad) {
				t.Errorf("%s, %d-byte reads: invalid at %v, want %v", tt.name, n, g.bad, tt.bad)
			}
		}
	}
}

func TestUTF8GuardClaimForgetsEarlierOffsets(t *testing.T) {
	t.Parallel()
	g := newUTF8Guard(iotest.OneByteReader(bytes.NewReader([]byte("\xff.....\xff....\xff"))))
	if _, err := io.ReadAll(g); err != nil {
		t.Fatal(err)
	}
	if at := g.claim(1, 6); at != -1 {
		t.Errorf("claim(1, 6) = %d, want -1: offset 0 lies before the row", at)
	}
	if at := g.claim(6, 10); at != 6 {
		t.Errorf("claim(6, 10) = %d, want 6", at)
	}
	if !slices.Equal(g.bad, []int64{11}) {
		t.Errorf("kept %v, want [11]", g.bad)
	}
}
