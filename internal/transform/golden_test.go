package transform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/transform"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// testRecord is record.json of a golden case.
type testRecord struct {
	Provider    string            `json:"provider"`
	Dataset     string            `json:"dataset"`
	SourceKey   string            `json:"source_key"`
	RunID       string            `json:"run_id"`
	ExtractedAt time.Time         `json:"extracted_at"`
	Attributes  map[string]string `json:"attributes"`
}

// TestGolden runs every case under testdata/<case>/ — spec.json, record.json and one
// payload.* file — and compares the rows and row errors with testdata/<case>/rows.golden.
// Regenerate with -update and review the diff.
func TestGolden(t *testing.T) {
	t.Parallel()
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "spec.json"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, specPath := range dirs {
		dir := filepath.Dir(specPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			got := runCase(t, dir)
			golden := filepath.Join(dir, "rows.golden")
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

func runCase(t *testing.T, dir string) []byte {
	t.Helper()
	s, err := spec.Parse(mustRead(t, filepath.Join(dir, "spec.json")))
	if err != nil {
		t.Fatal(err)
	}
	prog, err := spec.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	var rec testRecord
	if err := json.Unmarshal(mustRead(t, filepath.Join(dir, "record.json")), &rec); err != nil {
		t.Fatal(err)
	}
	payloads, _ := filepath.Glob(filepath.Join(dir, "payload.*"))
	if len(payloads) != 1 {
		t.Fatalf("want one payload.* in %s, found %v", dir, payloads)
	}
	src, err := rowsource.Open(s.Format, bytes.NewReader(mustRead(t, payloads[0])))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	header, _ := json.Marshal(map[string]any{"table": s.Table, "columns": s.ColumnNames()})
	out.Write(header)
	out.WriteByte('\n')
	st, err := transform.Run(context.Background(), prog, spec.Record(rec), src,
		func(row *sluicev1.Row) error {
			out.WriteString(renderRow(s.ColumnNames(), row))
			out.WriteByte('\n')
			return nil
		},
		func(e transform.RowError) error {
			b, _ := json.Marshal(map[string]string{"reject": e.Error()})
			out.Write(b)
			out.WriteByte('\n')
			return nil
		})
	end := map[string]any{"stats": st}
	if err != nil {
		end["error"] = err.Error()
	}
	b, _ := json.Marshal(end)
	out.Write(b)
	out.WriteByte('\n')
	return out.Bytes()
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// renderRow renders a row as one JSON object with the columns in order, each value tagged
// with its kind, e.g. {"index":0,"cost":{"decimal":"14.5"},...}.
func renderRow(columns []string, row *sluicev1.Row) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"index":%d`, row.GetIndex())
	for i, v := range row.GetValues() {
		fmt.Fprintf(&b, ",%s:%s", strconv.Quote(columns[i]), renderValue(v))
	}
	b.WriteByte('}')
	return b.String()
}

func renderValue(v *sluicev1.Value) string {
	q := func(kind string, val any) string {
		b, _ := json.Marshal(val)
		return fmt.Sprintf(`{"%s":%s}`, kind, b)
	}
	switch k := v.GetKind().(type) {
	case *sluicev1.Value_Null:
		return "null"
	case *sluicev1.Value_String_:
		return q("string", k.String_)
	case *sluicev1.Value_Int:
		return q("int", k.Int)
	case *sluicev1.Value_Float:
		return q("float", k.Float)
	case *sluicev1.Value_Bool:
		return q("bool", k.Bool)
	case *sluicev1.Value_Timestamp:
		return q("timestamp", k.Timestamp.AsTime().Format(time.RFC3339Nano))
	case *sluicev1.Value_Decimal:
		return q("decimal", k.Decimal)
	case *sluicev1.Value_Json:
		return fmt.Sprintf(`{"json":%s}`, k.Json)
	case *sluicev1.Value_Bytes:
		return q("bytes", k.Bytes)
	}
	return `"?"`
}
