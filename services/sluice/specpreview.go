package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/transform"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// previewResult is what a spec makes of a sample, as `--json` prints it.
type previewResult struct {
	Table    string           `json:"table"`
	Columns  []string         `json:"columns"`
	Rows     []map[string]any `json:"rows"`
	Rejected []previewReject  `json:"rejected"`
	Stats    transform.Stats  `json:"stats"`
	// Error is set when the payload itself could not be read to its end (the record would
	// go to the DLQ whole).
	Error string `json:"error,omitempty"`
}

type previewReject struct {
	Index  int64  `json:"index"`
	Reason string `json:"reason"`
}

// previewRecord is the record context of a sample (--record FILE): what `record.*` sees.
type previewRecord struct {
	SourceKey   string            `json:"source_key"`
	RunID       string            `json:"run_id"`
	ExtractedAt time.Time         `json:"extracted_at"`
	Attributes  map[string]string `json:"attributes"`
}

func specPreview(_ context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice spec preview", env.getenv, env.stdout)
	var sample, recordFile string
	var asJSON bool
	var limit int
	fs.StringVar(&sample, "sample", "", "", "a payload as the provider returns it (.gz is decompressed)")
	fs.StringVar(&recordFile, "record", "", "", "JSON of the record's context: source_key, run_id, extracted_at, attributes (default: FILE's sample record beside the sample, SAMPLE.record.json, if present)")
	fs.BoolVar(&asJSON, "json", "", false, "print the rows and rejected rows as JSON")
	fs.IntVar(&limit, "limit", "", 20, "rows to print in the table (0: all); --json prints all")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) != 1 || sample == "" {
		return config.Usagef("usage: sluice spec preview FILE --sample PAYLOAD[.gz] [--record RECORD.json] [--json] [--limit N]")
	}
	s, err := loadSpec(files[0])
	if err != nil {
		return err
	}
	if recordFile == "" {
		if guess := sampleRecordPath(sample); fileExists(guess) {
			recordFile = guess
		}
	}
	rec := spec.Record{Provider: s.Provider, Dataset: s.Dataset, SourceKey: filepath.Base(sample), RunID: "preview", ExtractedAt: time.Now().UTC()}
	if recordFile != "" {
		data, err := os.ReadFile(recordFile)
		if err != nil {
			return err
		}
		var pr previewRecord
		if err := json.Unmarshal(data, &pr); err != nil {
			return fmt.Errorf("--record %s: %w", recordFile, err)
		}
		rec.Attributes = pr.Attributes
		if pr.SourceKey != "" {
			rec.SourceKey = pr.SourceKey
		}
		if pr.RunID != "" {
			rec.RunID = pr.RunID
		}
		if !pr.ExtractedAt.IsZero() {
			rec.ExtractedAt = pr.ExtractedAt
		}
	}
	res, err := preview(s, rec, sample)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printPreview(env.stdout, res, limit)
	return nil
}

// sampleRecordPath is where a sample's record context is kept: payload.json.gz →
// payload.record.json.
func sampleRecordPath(sample string) string {
	base := strings.TrimSuffix(sample, ".gz")
	return strings.TrimSuffix(base, filepath.Ext(base)) + ".record.json"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// preview runs the spec over the sample the way the transformer does.
func preview(s *spec.Spec, rec spec.Record, sample string) (*previewResult, error) {
	prog, err := spec.Compile(s)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(sample)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var body io.Reader = f
	if strings.HasSuffix(sample, ".gz") {
		if body, err = rowsource.Decode("gzip", f); err != nil {
			return nil, fmt.Errorf("%s: %w", sample, err)
		}
	}
	res := &previewResult{Table: s.Table, Columns: s.ColumnNames(), Rows: []map[string]any{}, Rejected: []previewReject{}}
	src, err := rowsource.Open(s.Format, body)
	if err != nil {
		res.Error = err.Error()
		return res, nil
	}
	res.Stats, err = transform.Run(context.Background(), prog, rec, src,
		func(row *sluicev1.Row) error {
			m := make(map[string]any, len(res.Columns))
			for i, v := range row.GetValues() {
				m[res.Columns[i]] = jsonValue(s.Columns[i].Type, v)
			}
			res.Rows = append(res.Rows, m)
			return nil
		},
		func(e transform.RowError) error {
			res.Rejected = append(res.Rejected, previewReject{Index: e.Index, Reason: e.Error()})
			return nil
		})
	if err != nil {
		res.Error = err.Error()
	}
	return res, nil
}

// jsonValue is a cell as JSON shows it: decimals as exact strings, times in RFC 3339
// (dates as YYYY-MM-DD), JSON documents embedded.
func jsonValue(t spec.Type, v *sluicev1.Value) any {
	switch k := v.GetKind().(type) {
	case *sluicev1.Value_String_:
		return k.String_
	case *sluicev1.Value_Int:
		return k.Int
	case *sluicev1.Value_Float:
		return k.Float
	case *sluicev1.Value_Bool:
		return k.Bool
	case *sluicev1.Value_Timestamp:
		if t == spec.Date {
			return k.Timestamp.AsTime().UTC().Format(time.DateOnly)
		}
		return k.Timestamp.AsTime().UTC().Format(time.RFC3339Nano)
	case *sluicev1.Value_Decimal:
		return k.Decimal
	case *sluicev1.Value_Bytes:
		return k.Bytes
	case *sluicev1.Value_Json:
		return json.RawMessage(k.Json)
	}
	return nil
}

func printPreview(w io.Writer, res *previewResult, limit int) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(res.Columns, "\t"))
	for i, row := range res.Rows {
		if limit > 0 && i == limit {
			break
		}
		cells := make([]string, len(res.Columns))
		for j, c := range res.Columns {
			cells[j] = cellText(row[c])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	if limit > 0 && len(res.Rows) > limit {
		fmt.Fprintf(w, "... %d more rows (--limit 0 shows all)\n", len(res.Rows)-limit)
	}
	fmt.Fprintf(w, "\n%d rows read: %d to table %s, %d to the DLQ\n", res.Stats.Rows, res.Stats.Emitted, res.Table, res.Stats.Rejected)
	for _, r := range res.Rejected {
		fmt.Fprintf(w, "  dead letter: %s\n", r.Reason)
	}
	if res.Error != "" {
		fmt.Fprintf(w, "the payload could not be read to its end (the whole record would go to the DLQ): %s\n", res.Error)
	}
}

func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case json.RawMessage:
		return string(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}
