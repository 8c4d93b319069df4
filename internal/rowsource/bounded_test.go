package rowsource_test

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/spec"
)

// repeatReader streams unit n times without holding more than one copy of it.
type repeatReader struct {
	unit []byte
	n    int
	pos  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	written := 0
	for written < len(p) && r.n > 0 {
		c := copy(p[written:], r.unit[r.pos:])
		written += c
		r.pos += c
		if r.pos == len(r.unit) {
			r.pos = 0
			r.n--
		}
	}
	if written == 0 {
		return 0, io.EOF
	}
	return written, nil
}

// payload streams prefix, unit repeated until about size bytes, then suffix.
func payload(prefix, unit, suffix string, size int) io.Reader {
	return io.MultiReader(strings.NewReader(prefix), &repeatReader{unit: []byte(unit), n: size / len(unit)}, strings.NewReader(suffix))
}

// peakHeap reads r to its end, sampling the heap, and returns the largest HeapInuse seen,
// the rows, the row errors and the final error.
func peakHeap(t *testing.T, r rowsource.Reader) (peak uint64, rows, rowErrs int, final error) {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	for i := 0; ; i++ {
		if i%4096 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		_, err := r.Next()
		var rowErr *rowsource.RowError
		switch {
		case err == nil:
			rows++
		case errors.As(err, &rowErr):
			rowErrs++
		default:
			runtime.ReadMemStats(&ms)
			return max(peak, ms.HeapInuse), rows, rowErrs, err
		}
	}
}

// TestBoundedMemory streams payloads several times larger than the heap allowed, as many
// small rows and as one huge row, and checks that the heap stays bounded.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams large payloads")
	}
	// A low GC target keeps the heap close to what is live, so the bound measures what the
	// readers hold rather than when the collector happened to run.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	const size = 40 << 20
	const heapLimit = 20 << 20
	huge := strings.Repeat("x", 1<<20)
	cases := []struct {
		name         string
		format       spec.Format
		payload      func() io.Reader
		wantRows     int
		wantRowErrs  int
		wantTooLarge bool // the final error is ErrRowTooLarge instead of io.EOF
	}{
		{"json_many_rows", spec.Format{Type: spec.JSONArray},
			func() io.Reader {
				return payload(`[{"a":0}`, `,{"campaignId":158410630682987,"date":"2022-07-05","cost":14.5}`, "]", size)
			}, -1, 0, false},
		{"json_huge_row", spec.Format{Type: spec.JSONArray},
			func() io.Reader { return payload(`[{"a":"`, huge, `"}]`, size) }, 0, 0, true},
		{"json_path_huge_sibling", spec.Format{Type: spec.JSONArray, Path: "rows"},
			func() io.Reader { return payload(`{"meta":[`, `{"k":[1,2,3]},`, `0],"rows":[{"a":1}]}`, size/4) }, 1, 0, false},
		{"ndjson_many_rows", spec.Format{Type: spec.NDJSON},
			func() io.Reader {
				return payload("", `{"campaignId":158410630682987,"date":"2022-07-05"}`+"\n", "", size)
			}, -1, 0, false},
		{"ndjson_huge_line", spec.Format{Type: spec.NDJSON},
			func() io.Reader { return payload(`{"a":"`, huge, "\"}\n{\"b\":1}\n", size) }, 1, 1, false},
		{"csv_many_rows", spec.Format{Type: spec.CSV},
			func() io.Reader { return payload("id,date,cost\n", "158410630682987,2022-07-05,14.50\n", "", size) }, -1, 0, false},
		{"csv_huge_quoted_field", spec.Format{Type: spec.CSV},
			func() io.Reader { return payload("a\n\"", huge, "\"\n", size) }, 0, 0, true},
		{"html_many_rows", spec.Format{Type: spec.HTMLTable},
			func() io.Reader {
				return payload("<table><tr><th>id</th><th>date</th></tr>", "<tr><td>1</td><td>2022-07-05</td></tr>\n", "</table>", size)
			}, -1, 0, false},
		{"html_huge_cell", spec.Format{Type: spec.HTMLTable},
			func() io.Reader {
				return payload("<table><tr><th>a</th></tr><tr><td>", "<b>x</b>", "</td></tr><tr><td>1</td></tr></table>", size)
			}, 1, 1, false},
		{"html_huge_text", spec.Format{Type: spec.HTMLTable},
			func() io.Reader {
				return payload("<table><tr><th>a</th></tr><tr><td>", huge, "</td></tr></table>", size)
			}, 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := rowsource.Open(tc.format, tc.payload())
			if err != nil {
				t.Fatal(err)
			}
			peak, rows, rowErrs, final := peakHeap(t, r)
			t.Logf("peak heap %.1f MiB for a %d MiB payload; %d rows, %d row errors, end: %v", float64(peak)/(1<<20), size>>20, rows, rowErrs, final)
			if peak > heapLimit {
				t.Errorf("heap reached %d bytes, want at most %d", peak, heapLimit)
			}
			if tc.wantRows >= 0 && rows != tc.wantRows || tc.wantRows < 0 && rows < 100_000 {
				t.Errorf("rows = %d, want %d", rows, tc.wantRows)
			}
			if rowErrs != tc.wantRowErrs {
				t.Errorf("row errors = %d, want %d", rowErrs, tc.wantRowErrs)
			}
			if tc.wantTooLarge != errors.Is(final, rowsource.ErrRowTooLarge) || !tc.wantTooLarge && final != io.EOF {
				t.Errorf("final error = %v, want too large: %v", final, tc.wantTooLarge)
			}
		})
	}
}

// TestRowErrorThenContinue checks that Next can be called after a RowError.
func TestRowErrorThenContinue(t *testing.T) {
	t.Parallel()
	r, err := rowsource.Open(spec.Format{Type: spec.NDJSON}, bytes.NewReader([]byte("{\n{\"a\":1}\n")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Next()
	var rowErr *rowsource.RowError
	if !errors.As(err, &rowErr) || rowErr.Index != 0 || rowErr.Line != 1 {
		t.Fatalf("first Next: %v, want a RowError for row 0 on line 1", err)
	}
	row, err := r.Next()
	if err != nil || row["a"] == nil {
		t.Fatalf("second Next = %v, %v", row, err)
	}
}
