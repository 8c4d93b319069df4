package rowsource_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/spec"
)

// failingReader yields data, then fails with err: an object store connection that drops
// mid-read.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

var errNetwork = errors.New("read tcp 127.0.0.1:9000: connection reset by peer")

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zst(t *testing.T, s string) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll([]byte(s), nil)
}

// compressed encodes s with the content encoding enc.
func compressed(t *testing.T, enc, s string) []byte {
	if enc == "zstd" {
		return zst(t, s)
	}
	return gz(t, s)
}

// readAll reads every row and returns the fatal error (nil at a clean end).
func readAll(src rowsource.Reader) error {
	for {
		_, err := src.Next()
		var rowErr *rowsource.RowError
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &rowErr):
		case err != nil:
			return err
		}
	}
}

// TestFatalErrorsAreClassifiedAtTheSource: only an error caused by the payload's bytes is a
// DataError (permanent: the transformer dead-letters the record); a failure of the input
// (S3 mid-read) is not, so the record is retried instead of dead-lettered.
func TestFatalErrorsAreClassifiedAtTheSource(t *testing.T) {
	t.Parallel()
	rows := `[{"id":1},{"id":2},{"id":3}]`
	big := strings.Repeat(`{"id":1},`, 2000)
	var varied strings.Builder // compresses less: a zstd frame long enough to corrupt inside
	for i := range 2000 {
		fmt.Fprintf(&varied, `{"id":%d,"v":"%x"},`, i, i*7919)
	}
	cases := []struct {
		name     string
		format   spec.Format
		encoding string
		input    func(t *testing.T) io.Reader
		data     bool  // want a DataError
		wraps    error // the error must wrap this
	}{
		{"corrupt json", spec.Format{Type: spec.JSONArray}, "", func(*testing.T) io.Reader { return strings.NewReader(`[{"id":1},{"id":}]`) }, true, nil},
		{"json ends inside the array", spec.Format{Type: spec.JSONArray}, "", func(*testing.T) io.Reader { return strings.NewReader(`[{"id":1},`) }, true, io.ErrUnexpectedEOF},
		{"json row too large", spec.Format{Type: spec.JSONArray, MaxRowBytes: 100}, "", func(*testing.T) io.Reader {
			return strings.NewReader(`[{"id":"` + strings.Repeat("x", 5000) + `"}]`)
		}, true, rowsource.ErrRowTooLarge},
		{"csv header missing", spec.Format{Type: spec.CSV}, "", func(*testing.T) io.Reader { return strings.NewReader("") }, true, nil},
		{"truncated gzip", spec.Format{Type: spec.JSONArray}, "gzip", func(t *testing.T) io.Reader {
			g := gz(t, `[`+big+`{"id":1}]`)
			return bytes.NewReader(g[:len(g)/2])
		}, true, io.ErrUnexpectedEOF},
		{"not gzip", spec.Format{Type: spec.JSONArray}, "gzip", func(*testing.T) io.Reader { return strings.NewReader(rows) }, true, nil},
		{"corrupt gzip stream", spec.Format{Type: spec.JSONArray}, "gzip", func(t *testing.T) io.Reader {
			g := gz(t, `[`+big+`{"id":1}]`)
			for i := 12; i < 40; i++ {
				g[i] = 0xff
			}
			return bytes.NewReader(g)
		}, true, nil},
		{"input fails mid json", spec.Format{Type: spec.JSONArray}, "", func(*testing.T) io.Reader {
			return &failingReader{data: []byte(`[` + big), err: errNetwork}
		}, false, errNetwork},
		{"input drops mid json (unexpected EOF)", spec.Format{Type: spec.JSONArray}, "", func(*testing.T) io.Reader {
			return &failingReader{data: []byte(`[` + big), err: io.ErrUnexpectedEOF}
		}, false, io.ErrUnexpectedEOF},
		{"input fails mid ndjson", spec.Format{Type: spec.NDJSON}, "", func(*testing.T) io.Reader {
			return &failingReader{data: []byte("{\"id\":1}\n{\"id\""), err: errNetwork}
		}, false, errNetwork},
		{"input fails mid csv", spec.Format{Type: spec.CSV}, "", func(*testing.T) io.Reader {
			return &failingReader{data: []byte("id,name\n1,a\n2,\"b"), err: errNetwork}
		}, false, errNetwork},
		{"input fails mid html", spec.Format{Type: spec.HTMLTable}, "", func(*testing.T) io.Reader {
			return &failingReader{data: []byte("<table><tr><th>id</th></tr><tr><td>1</td></tr><tr><td>"), err: errNetwork}
		}, false, errNetwork},
		{"input fails under gzip", spec.Format{Type: spec.JSONArray}, "gzip", func(t *testing.T) io.Reader {
			g := gz(t, `[`+big+`{"id":1}]`)
			return &failingReader{data: g[:len(g)/2], err: errNetwork}
		}, false, errNetwork},
		{"input drops under gzip (unexpected EOF)", spec.Format{Type: spec.JSONArray}, "gzip", func(t *testing.T) io.Reader {
			g := gz(t, `[`+big+`{"id":1}]`)
			return &failingReader{data: g[:len(g)/2], err: io.ErrUnexpectedEOF}
		}, false, io.ErrUnexpectedEOF},
		{"truncated zstd", spec.Format{Type: spec.JSONArray}, "zstd", func(t *testing.T) io.Reader {
			z := zst(t, `[`+big+`{"id":1}]`)
			return bytes.NewReader(z[:len(z)/2])
		}, true, nil},
		{"not zstd", spec.Format{Type: spec.JSONArray}, "zstd", func(*testing.T) io.Reader { return strings.NewReader(rows) }, true, nil},
		{"corrupt zstd stream", spec.Format{Type: spec.JSONArray}, "zstd", func(t *testing.T) io.Reader {
			z := zst(t, `[`+varied.String()+`{"id":1}]`)
			for i := 12; i < 40; i++ {
				z[i] = 0xff
			}
			return bytes.NewReader(z)
		}, true, nil},
		{"input fails under zstd", spec.Format{Type: spec.JSONArray}, "zstd", func(t *testing.T) io.Reader {
			z := zst(t, `[`+big+`{"id":1}]`)
			return &failingReader{data: z[:len(z)/2], err: errNetwork}
		}, false, errNetwork},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := func() error {
				in, err := rowsource.Decode(c.encoding, c.input(t), rowsource.DecodeLimits{})
				if err != nil {
					return err
				}
				src, err := rowsource.Open(c.format, in)
				if err != nil {
					t.Fatal(err)
				}
				return readAll(src)
			}()
			if err == nil {
				t.Fatal("read to the end, want an error")
			}
			if got := rowsource.IsDataError(err); got != c.data {
				t.Errorf("IsDataError(%v) = %v, want %v", err, got, c.data)
			}
			if c.wraps != nil && !errors.Is(err, c.wraps) {
				t.Errorf("%v does not wrap %v", err, c.wraps)
			}
		})
	}
}

func TestCleanPayloadsAreNotErrors(t *testing.T) {
	t.Parallel()
	for _, enc := range []string{"", "identity", "gzip", "zstd"} {
		var in io.Reader = strings.NewReader(`[{"id":1}]`)
		if enc == "gzip" || enc == "zstd" {
			in = bytes.NewReader(compressed(t, enc, `[{"id":1}]`))
		}
		dec, err := rowsource.Decode(enc, in, rowsource.DecodeLimits{})
		if err != nil {
			t.Fatalf("%q: %v", enc, err)
		}
		src, _ := rowsource.Open(spec.Format{Type: spec.JSONArray}, dec)
		if err := readAll(src); err != nil {
			t.Errorf("%q: %v", enc, err)
		}
	}
	if _, err := rowsource.Decode("br", strings.NewReader(""), rowsource.DecodeLimits{}); !rowsource.IsDataError(err) {
		t.Errorf("unknown encoding: %v, want a DataError", err)
	}
}

// TestRawIsTheRowsOwnBytes: what a dead letter of a row stores.
func TestRawIsTheRowsOwnBytes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		format  spec.Format
		payload string
		want    []string // Raw after each Next, row or row error
	}{
		{"ndjson lines as they are", spec.Format{Type: spec.NDJSON}, "{\"b\":1, \"a\":2}\nnot json\n\n{\"a\":3}\n",
			[]string{`{"b":1, "a":2}`, `not json`, `{"a":3}`}},
		{"json array elements re-encoded", spec.Format{Type: spec.JSONArray}, `[{"b":1.50,"a":"x"}, 7, {"a":12345678901234567890}]`,
			[]string{`{"a":"x","b":1.50}`, `7`, `{"a":12345678901234567890}`}},
		{"csv records re-encoded", spec.Format{Type: spec.CSV, Delimiter: ";"}, "id;name\n1;\"a;b\"\n2\n3;c\n",
			[]string{`1;"a;b"`, `2`, `3;c`}},
		{"html cells as an object", spec.Format{Type: spec.HTMLTable}, "<table><tr><th>id</th><th>n</th></tr><tr><td>1</td><td>x</td></tr><tr><td>2</td></tr></table>",
			[]string{`{"id":"1","n":"x"}`, `["2"]`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			src, err := rowsource.Open(c.format, strings.NewReader(c.payload))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for {
				_, err := src.Next()
				var rowErr *rowsource.RowError
				if err != nil && !errors.As(err, &rowErr) {
					if !errors.Is(err, io.EOF) {
						t.Fatal(err)
					}
					break
				}
				got = append(got, string(src.Raw()))
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("raw rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// TestGzipBombIsADataErrorNamingTheBound: a payload that decompresses beyond the size or
// ratio bound fails as a data error (dead letter) whose message names the bound.
func TestGzipBombIsADataErrorNamingTheBound(t *testing.T) {
	t.Parallel()
	for _, enc := range []string{"gzip", "zstd"} {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			testBomb(t, enc)
		})
	}
}

func testBomb(t *testing.T, enc string) {
	bomb := compressed(t, enc, `[`+strings.Repeat(`{"id":1},`, 1<<17)+`{"id":1}]`) // ~1.2 MB of rows, ratio in the hundreds
	ok := compressed(t, enc, `[{"id":1},{"id":2}]`)
	lim := rowsource.DecodeLimits{MaxBytes: 8 << 20, MaxRatio: 50, RatioFloor: 64 << 10, MaxBytesName: "--max-decompressed-bytes", MaxRatioName: "--max-decompression-ratio"}
	cases := []struct {
		name    string
		payload []byte
		lim     rowsource.DecodeLimits
		want    string
	}{
		{"ratio", bomb, lim, "--max-decompression-ratio 50"},
		{"size", bomb, rowsource.DecodeLimits{MaxBytes: 256 << 10, MaxBytesName: "--max-decompressed-bytes"}, "more than 262144 bytes, the limit --max-decompressed-bytes"},
		{"within the bounds", ok, lim, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in, err := rowsource.Decode(enc, bytes.NewReader(c.payload), c.lim)
			if err != nil {
				t.Fatal(err)
			}
			src, err := rowsource.Open(spec.Format{Type: spec.JSONArray}, in)
			if err == nil {
				err = readAll(src)
			}
			if c.want == "" {
				if err != nil {
					t.Fatalf("want the rows, got %v", err)
				}
				return
			}
			if err == nil || !rowsource.IsDataError(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want a data error naming %q, got %v", c.want, err)
			}
		})
	}
}
