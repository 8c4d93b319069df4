package rowsource_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/spec"
)

// fuzzMaxRow is the max row size of the fuzz targets: small, so that the fuzzer reaches
// the limit often.
const fuzzMaxRow = 2048

// checkReader reads data to its end and fails when the reader panics (the fuzzer reports
// it), does not end, yields a row larger than the max row size, allocates more than a
// linear function of the payload size (memory must stay bounded whatever the input), or
// ends with an error that is not a DataError although its input (bytes in memory) cannot
// fail: a payload's fault must always be classified as one, or it is retried forever.
//
// raw names fields to keep as RawJSON (rowsource.RawKeeper).
func checkReader(t *testing.T, f spec.Format, data []byte, raw ...string) {
	f.MaxRowBytes = fuzzMaxRow
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := rowsource.Open(f, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > 0 {
		r.(rowsource.RawKeeper).KeepRaw(raw)
	}
	results := 0
	for {
		results++
		if results > len(data)+2 {
			t.Fatalf("%d results from %d bytes: the reader does not make progress", results, len(data))
		}
		row, err := r.Next()
		_ = r.Raw()
		if err == nil {
			if size := rowSize(row); size > 2*fuzzMaxRow+1024 {
				t.Fatalf("row of about %d bytes passed a max row size of %d", size, fuzzMaxRow)
			}
			continue
		}
		var rowErr *rowsource.RowError
		if errors.As(err, &rowErr) {
			if rowErr.Err == nil {
				t.Fatal("RowError without a cause")
			}
			continue
		}
		if !errors.Is(err, io.EOF) {
			if !rowsource.IsDataError(err) {
				t.Fatalf("fatal error %v over an input that cannot fail is not a DataError", err)
			}
			if _, again := r.Next(); again == nil {
				t.Fatalf("Next returned a row after the fatal error %v", err)
			}
		}
		break
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(2<<20+512*len(data)) {
		t.Fatalf("allocated %d bytes for a payload of %d bytes", alloc, len(data))
	}
}

// rowSize approximates the memory a row's content takes.
func rowSize(v any) int {
	switch v := v.(type) {
	case map[string]any:
		n := 0
		for k, e := range v {
			n += len(k) + rowSize(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range v {
			n += 1 + rowSize(e)
		}
		return n
	case string:
		return len(v)
	case rowsource.RawJSON:
		return len(v)
	}
	return 1
}

func addSeeds(f *testing.F, files ...string) {
	f.Helper()
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzJSONArray(f *testing.F) {
	addSeeds(f, "array.json", "truncated.json", "corrupt.json", "bom.json", "large.json", "path.json")
	for _, s := range []string{"", "[]", "[{}]", "[{},[],1,null]", `[{"a":[[[[[[[]]]]]]]}]`, "[{\"a\":\"\\u00e9\"}", "[" + "{\"a\":1}," + "]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkReader(t, spec.Format{Type: spec.JSONArray}, data)
		checkReader(t, spec.Format{Type: spec.JSONArray, Path: "report.rows"}, data)
		checkReader(t, spec.Format{Type: spec.JSONArray}, data, "a", "b")
	})
}

func FuzzNDJSON(f *testing.F) {
	addSeeds(f, "rows.ndjson", "long.ndjson")
	for _, s := range []string{"", "\n\n", "{}\n{", "{\"a\":1}\r\n[1]\n\"x\"\nnull\n", "\xef\xbb\xbf{}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkReader(t, spec.Format{Type: spec.NDJSON}, data)
		checkReader(t, spec.Format{Type: spec.NDJSON}, data, "a", "b")
	})
}

func FuzzCSV(f *testing.F) {
	addSeeds(f, "report.csv", "semicolon.csv", "bom.csv", "dupheader.csv", "noheader.csv")
	for _, s := range []string{"", "a\n", "a,b\n\"1\n", "a,,\n1,2,3\n\"\"\"\n", "a\r\n1\r\n\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkReader(t, spec.Format{Type: spec.CSV}, data)
		checkReader(t, spec.Format{Type: spec.CSV, SkipRows: 1, LazyQuotes: true, Comment: "#"}, data)
	})
}

func FuzzHTMLTable(f *testing.F) {
	addSeeds(f, "report.html", "noheader.html")
	for _, s := range []string{"", "<table>", "<table><tr><td colspan=1000>x<td colspan=999>", "<table><td>a</td><tr><th>b",
		"<table><tr><td><table><tr><td>x</table></td></tr></table>", "<table><script>", "<table id=t><tr><td>&amp;&nbsp;&#x1F600;"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkReader(t, spec.Format{Type: spec.HTMLTable}, data)
		checkReader(t, spec.Format{Type: spec.HTMLTable, TableID: "t", SkipRows: 1}, data)
	})
}

// FuzzGzip feeds arbitrary bytes as a gzip payload: corrupt or truncated gzip must be a
// DataError (dead-lettered), never an error that would be retried forever.
func FuzzGzip(f *testing.F) {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(`[{"id":1},{"id":2}]`))
	_ = w.Close()
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:b.Len()/2])
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := rowsource.Decode("gzip", bytes.NewReader(data), rowsource.DecodeLimits{})
		if err != nil {
			if !rowsource.IsDataError(err) {
				t.Fatalf("gzip header error %v is not a DataError", err)
			}
			return
		}
		r, err := rowsource.Open(spec.Format{Type: spec.NDJSON, MaxRowBytes: fuzzMaxRow}, in)
		if err != nil {
			t.Fatal(err)
		}
		for range len(data) + 2 {
			_, err := r.Next()
			var rowErr *rowsource.RowError
			switch {
			case err == nil, errors.As(err, &rowErr):
				continue
			case errors.Is(err, io.EOF):
				return
			case !rowsource.IsDataError(err):
				t.Fatalf("fatal error %v over an input that cannot fail is not a DataError", err)
			}
			return
		}
	})
}
