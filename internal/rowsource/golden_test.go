package rowsource_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func boolPtr(b bool) *bool { return &b }

// TestGolden reads each payload under testdata/ and compares what the reader yields — rows,
// row errors, the final error — with testdata/<name>.golden. Regenerate with -update.
func TestGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string // golden file name
		payload string
		format  spec.Format
	}{
		{"array", "array.json", spec.Format{Type: spec.JSONArray}},
		{"path", "path.json", spec.Format{Type: spec.JSONArray, Path: "report.rows"}},
		{"path_null", "path_null.json", spec.Format{Type: spec.JSONArray, Path: "report.rows"}},
		{"path_missing", "path_missing.json", spec.Format{Type: spec.JSONArray, Path: "report.rows"}},
		{"path_not_object", "array.json", spec.Format{Type: spec.JSONArray, Path: "report"}},
		{"array_not_array", "path.json", spec.Format{Type: spec.JSONArray}},
		{"truncated", "truncated.json", spec.Format{Type: spec.JSONArray}},
		{"corrupt", "corrupt.json", spec.Format{Type: spec.JSONArray}},
		{"array_trailing", "trailing.json", spec.Format{Type: spec.JSONArray}},
		{"array_invalid_utf8", "utf8.json", spec.Format{Type: spec.JSONArray}},
		{"ndjson_invalid_utf8", "utf8.ndjson", spec.Format{Type: spec.NDJSON}},
		{"bom_json", "bom.json", spec.Format{Type: spec.JSONArray}},
		{"array_row_too_large", "large.json", spec.Format{Type: spec.JSONArray, MaxRowBytes: 1000}},
		{"ndjson", "rows.ndjson", spec.Format{Type: spec.NDJSON}},
		{"ndjson_long", "long.ndjson", spec.Format{Type: spec.NDJSON, MaxRowBytes: 100}},
		{"csv_report", "report.csv", spec.Format{Type: spec.CSV, SkipRows: 2}},
		{"csv_report_comment", "report.csv", spec.Format{Type: spec.CSV, SkipRows: 2, Comment: "#", LazyQuotes: true}},
		{"csv_semicolon", "semicolon.csv", spec.Format{Type: spec.CSV, Delimiter: ";"}},
		{"csv_bom", "bom.csv", spec.Format{Type: spec.CSV}},
		{"csv_dup_header", "dupheader.csv", spec.Format{Type: spec.CSV}},
		{"csv_fields_over_header", "dupheader.csv", spec.Format{Type: spec.CSV, Fields: []string{"a", "b", "c"}}},
		{"csv_no_header", "noheader.csv", spec.Format{Type: spec.CSV, Delimiter: "|", Header: boolPtr(false), Fields: []string{"id", "name"}}},
		{"csv_empty", "empty", spec.Format{Type: spec.CSV}},
		{"html_by_id", "report.html", spec.Format{Type: spec.HTMLTable, TableID: "report"}},
		{"html_by_index", "report.html", spec.Format{Type: spec.HTMLTable, TableIndex: 1}},
		{"html_nested_header_only", "report.html", spec.Format{Type: spec.HTMLTable, TableIndex: 2}},
		{"html_last", "report.html", spec.Format{Type: spec.HTMLTable, TableIndex: 3}},
		{"html_fields", "report.html", spec.Format{Type: spec.HTMLTable, TableID: "report", Fields: []string{"date", "campaign", "clicks", "cost"}}},
		{"html_missing", "report.html", spec.Format{Type: spec.HTMLTable, TableIndex: 9}},
		{"html_missing_id", "report.html", spec.Format{Type: spec.HTMLTable, TableID: "nope"}},
		{"html_no_header", "noheader.html", spec.Format{Type: spec.HTMLTable, SkipRows: 1, Header: boolPtr(false), Fields: []string{"id", "name"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var payload []byte
			if tc.payload != "empty" {
				var err error
				payload, err = os.ReadFile(filepath.Join("testdata", tc.payload))
				if err != nil {
					t.Fatal(err)
				}
			}
			r, err := rowsource.Open(tc.format, bytes.NewReader(payload))
			if err != nil {
				t.Fatal(err)
			}
			got := drain(t, r)
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run go test -update after checking the change)\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// drain reads r to its end and renders every result as one JSON line.
func drain(t *testing.T, r rowsource.Reader) []byte {
	t.Helper()
	var out bytes.Buffer
	line := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("reader does not end")
		}
		row, err := r.Next()
		var rowErr *rowsource.RowError
		switch {
		case err == nil:
			line(map[string]any{"row": row})
		case errors.As(err, &rowErr):
			line(map[string]any{"row_error": rowErr.Error()})
		case errors.Is(err, io.EOF):
			line(map[string]any{"eof": true})
			return out.Bytes()
		default:
			line(map[string]any{"error": err.Error()})
			if _, again := r.Next(); again == nil || again.Error() != err.Error() {
				t.Errorf("after fatal error %q, Next returned %v", err, again)
			}
			return out.Bytes()
		}
	}
}
