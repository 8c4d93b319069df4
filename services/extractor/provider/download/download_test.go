package download

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/sluice-dev/sluice/internal/apiclient"
)

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// collect runs JSONArray and returns the rows of every part, checking each part is a
// valid JSON array within the chunking bounds.
func collect(t *testing.T, in string, ch Chunking) ([]string, []Part, error) {
	t.Helper()
	var rows []string
	var parts []Part
	err := JSONArray(context.Background(), strings.NewReader(in), 1<<10, ch, 0, func(_ context.Context, p Part) error {
		var got []json.RawMessage
		if err := json.Unmarshal(p.Payload, &got); err != nil {
			t.Fatalf("part %d is not a JSON array: %v: %s", p.Index, err, p.Payload)
		}
		if len(got) != p.Rows {
			t.Fatalf("part %d: %d rows, says %d", p.Index, len(got), p.Rows)
		}
		for _, r := range got {
			rows = append(rows, string(r))
		}
		p.Payload = bytes.Clone(p.Payload)
		parts = append(parts, p)
		return nil
	})
	return rows, parts, err
}

func TestJSONArraySplitsIntoBoundedParts(t *testing.T) {
	t.Parallel()
	var rows []string
	for i := range 25 {
		rows = append(rows, fmt.Sprintf(`{"id":%d,"name":"a \"quoted\" ], {name}","v":[1,{"x":"]"}],"n":null}`, i))
	}
	in := " \n[" + strings.Join(rows, " ,\n ") + "]\n"
	for _, tc := range []struct {
		name      string
		ch        Chunking
		wantParts int
	}{
		{"by rows", Chunking{MaxRows: 10, MaxBytes: 1 << 20}, 3},
		{"by bytes", Chunking{MaxRows: 1000, MaxBytes: 3 * len(rows[0])}, 13},
		{"row larger than max bytes", Chunking{MaxRows: 1000, MaxBytes: 10}, 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, parts, err := collect(t, in, tc.ch)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != tc.wantParts {
				t.Errorf("parts = %d, want %d", len(parts), tc.wantParts)
			}
			if strings.Join(got, "\n") != strings.Join(rows, "\n") {
				t.Errorf("rows differ:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(rows, "\n"))
			}
			next := int64(0)
			for i, p := range parts {
				if p.Index != i || p.Rows > tc.ch.MaxRows || (p.Rows > 1 && len(p.Payload) > tc.ch.MaxBytes) {
					t.Errorf("part %d: index %d, %d rows, %d bytes out of bounds", i, p.Index, p.Rows, len(p.Payload))
				}
				if p.FirstRow != next {
					t.Errorf("part %d: first row %d, want %d", i, p.FirstRow, next)
				}
				next += int64(p.Rows)
			}
		})
	}
}

// TestResumeWithOtherChunkingEmitsEveryRowOnce: a download interrupted after some parts
// resumes, with another chunking, from the rows published: every row of the file is in
// exactly one part of one attempt, and parts are named by their rows. With a part count
// (the old resume) a smaller chunking after the crash skipped unpublished rows.
func TestResumeWithOtherChunkingEmitsEveryRowOnce(t *testing.T) {
	t.Parallel()
	var rows []string
	for i := range 25 {
		rows = append(rows, fmt.Sprintf(`{"id":%d}`, i))
	}
	in := "[" + strings.Join(rows, ",") + "]"
	for _, tc := range []struct {
		name          string
		before, after Chunking
		crashAfter    int // parts published before the crash
	}{
		{"smaller chunks after", Chunking{MaxRows: 10}, Chunking{MaxRows: 3}, 2},
		{"larger chunks after", Chunking{MaxRows: 3}, Chunking{MaxRows: 10}, 4},
		{"same chunks", Chunking{MaxRows: 4}, Chunking{MaxRows: 4}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seen := map[string]int{}
			names := map[string]bool{}
			published := int64(0)
			crash := errors.New("crash")
			err := JSONArray(context.Background(), strings.NewReader(in), 1<<10, tc.before, 0, func(_ context.Context, p Part) error {
				if p.Index == tc.crashAfter {
					return crash
				}
				var got []json.RawMessage
				_ = json.Unmarshal(p.Payload, &got)
				for _, r := range got {
					seen[string(r)]++
				}
				names[fmt.Sprintf("rows=%d-%d", p.FirstRow, p.FirstRow+int64(p.Rows)-1)] = true
				published = p.FirstRow + int64(p.Rows)
				return nil
			})
			if !errors.Is(err, crash) {
				t.Fatalf("first attempt: %v", err)
			}
			err = JSONArray(context.Background(), strings.NewReader(in), 1<<10, tc.after, published, func(_ context.Context, p Part) error {
				var got []json.RawMessage
				_ = json.Unmarshal(p.Payload, &got)
				if len(got) != p.Rows {
					t.Fatalf("part %d: %d rows, says %d", p.Index, len(got), p.Rows)
				}
				for i, r := range got {
					if want := rows[p.FirstRow+int64(i)]; string(r) != want {
						t.Fatalf("part from row %d: row %d is %s, want %s", p.FirstRow, i, r, want)
					}
					seen[string(r)]++
				}
				name := fmt.Sprintf("rows=%d-%d", p.FirstRow, p.FirstRow+int64(p.Rows)-1)
				if names[name] {
					t.Errorf("part %s named like a part of the first attempt", name)
				}
				names[name] = true
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if seen[r] != 1 {
					t.Errorf("row %s emitted %d times, want once", r, seen[r])
				}
			}
		})
	}
}

func TestJSONArrayRejectsMalformed(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "{}", "[", "[1,", "[1 2]", "[1,]", `["abc`, "[1] x", "[{]", `[{"a":1}}`, "[tru]",
		"[" + strings.Repeat("9", 2000) + "]", // row over the 1 KiB limit
	} {
		_, _, err := collect(t, in, Chunking{})
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%.40q: err = %v, want ErrMalformed", in, err)
		}
	}
	for _, in := range []string{"[]", " [ ] ", "\xEF\xBB\xBF[1,\"x\",null,true,{\"a\":[]}]"} {
		if _, _, err := collect(t, in, Chunking{}); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestGzipJSONArrayErrors(t *testing.T) {
	t.Parallel()
	rows := make([]string, 2000)
	for i := range rows {
		rows[i] = fmt.Sprintf(`{"campaignId":%d,"cost":%d.5,"date":"2024-06-01"}`, 158410630682987+i, i)
	}
	good := gz(t, []byte("["+strings.Join(rows, ",")+"]"))
	bomb := gz(t, []byte("["+strings.Repeat(" ", 64<<20)+"]"))
	run := func(data []byte, lim Limits) (Stats, error) {
		return GzipJSONArray(context.Background(), bytes.NewReader(data), lim, Chunking{MaxRows: 100}, 0, func(context.Context, Part) error { return nil })
	}

	st, err := run(good, Limits{})
	if err != nil || st.Rows != 2000 || st.Parts != 20 || st.CompressedBytes != int64(len(good)) {
		t.Fatalf("good file: %+v, %v", st, err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		lim  Limits
		want error
	}{
		{"truncated", good[:len(good)/2], Limits{}, ErrTruncated},
		{"corrupt checksum", append(bytes.Clone(good[:len(good)-8]), 0, 0, 0, 0, 0, 0, 0, 0), Limits{}, ErrTruncated},
		{"not gzip", []byte("<Error><Code>AccessDenied</Code></Error>"), Limits{}, ErrMalformed},
		{"bomb", bomb, Limits{MaxRatio: 100, RatioFloor: 1 << 20}, ErrBomb},
		{"too large decompressed", good, Limits{MaxBytes: 1000}, ErrTooLarge},
		{"too large compressed", good, Limits{MaxCompressed: 100}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := run(tc.data, tc.lim)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == ErrBomb && st.Bytes > 4<<20 {
				t.Errorf("bomb decompressed %d bytes before it was stopped", st.Bytes)
			}
			t.Log(err)
		})
	}
	if !Retryable(fmt.Errorf("x: %w", ErrTruncated)) || Retryable(ErrTooLarge) {
		t.Error("Retryable misclassifies")
	}
	// A body the server stopped sending mid-file is downloaded again, and the error
	// still says it stalled (not that the gzip stream is truncated).
	stall := &apiclient.IdleTimeoutError{Method: "GET", URL: "https://s3/r.gz", Host: "s3", Idle: time.Minute}
	_, err = GzipJSONArray(context.Background(), io.MultiReader(bytes.NewReader(good[:len(good)/2]), iotest.ErrReader(stall)),
		Limits{}, Chunking{}, 0, func(context.Context, Part) error { return nil })
	if !errors.Is(err, apiclient.ErrIdleTimeout) || !Retryable(err) {
		t.Errorf("stalled body: err = %v, want a retryable idle timeout", err)
	}
}

func TestGzipJSONArrayStopsOnCancelAndCallbackError(t *testing.T) {
	t.Parallel()
	data := gz(t, []byte("[1,2,3,4,5,6]"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := GzipJSONArray(ctx, bytes.NewReader(data), Limits{}, Chunking{MaxRows: 1}, 0, func(context.Context, Part) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
	boom := errors.New("boom")
	_, err = GzipJSONArray(context.Background(), bytes.NewReader(data), Limits{}, Chunking{MaxRows: 1}, 0, func(context.Context, Part) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("callback error: err = %v", err)
	}
}

// FuzzJSONArray checks the splitter against encoding/json: it accepts exactly the top-level
// arrays encoding/json accepts (within the row limit) and returns their elements unchanged.
func FuzzJSONArray(f *testing.F) {
	for _, s := range []string{"[]", `[1,"a",{"b":[null,true]}]`, `[{"x":"]\"}"}]`, "[1 2]", "[", `["\u00e9"]`, " [ -1.5e3 , 0 ] "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var rows []string
		err := JSONArray(context.Background(), bytes.NewReader(in), 1<<16, Chunking{MaxRows: 3}, 0, func(_ context.Context, p Part) error {
			var got []json.RawMessage
			if err := json.Unmarshal(p.Payload, &got); err != nil {
				t.Fatalf("part is not a JSON array: %v: %q", err, p.Payload)
			}
			for _, r := range got {
				rows = append(rows, string(r))
			}
			return nil
		})
		var want []json.RawMessage
		werr := json.Unmarshal(bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF")), &want)
		if werr != nil || want == nil {
			if err == nil && werr != nil {
				t.Fatalf("accepted %q that encoding/json rejects: %v", in, werr)
			}
			return
		}
		if err != nil {
			if errors.Is(err, ErrMalformed) && strings.Contains(err.Error(), "exceeds") {
				return
			}
			t.Fatalf("rejected valid %q: %v", in, err)
		}
		if len(rows) != len(want) {
			t.Fatalf("%q: %d rows, want %d", in, len(rows), len(want))
		}
		for i := range want {
			var a, b bytes.Buffer
			_ = json.Compact(&a, want[i])
			_ = json.Compact(&b, []byte(rows[i]))
			if a.String() != b.String() {
				t.Fatalf("%q: row %d = %s, want %s", in, i, rows[i], want[i])
			}
		}
	})
}
