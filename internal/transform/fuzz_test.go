package transform_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/transform"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// FuzzTransform runs arbitrary payloads through the golden specs (every format and column
// type) and checks that Run never panics and that what it emits honours the spec.
func FuzzTransform(f *testing.F) {
	cases := []string{"amazonads_sp_campaigns", "catalog_ndjson", "partner_csv", "partner_html"}
	progs := make([]*spec.Program, len(cases))
	for i, name := range cases {
		dir := filepath.Join("testdata", name)
		s, err := spec.Parse(mustRead(f, filepath.Join(dir, "spec.json")))
		if err != nil {
			f.Fatal(err)
		}
		if progs[i], err = spec.Compile(s); err != nil {
			f.Fatal(err)
		}
		payloads, _ := filepath.Glob(filepath.Join(dir, "payload.*"))
		f.Add(uint8(i), mustRead(f, payloads[0]))
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		prog := progs[int(which)%len(progs)]
		s := prog.Spec()
		s2 := *s
		s2.Format.MaxRowBytes = 4096
		src, err := rowsource.Open(s2.Format, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		st, err := transform.Run(context.Background(), prog, spec.Record{Attributes: map[string]string{"profileId": "1", "partner": "p"}}, src,
			func(r *sluicev1.Row) error {
				if len(r.GetValues()) != len(s.Columns) {
					t.Fatalf("row %d has %d values for %d columns", r.GetIndex(), len(r.GetValues()), len(s.Columns))
				}
				for i, v := range r.GetValues() {
					if v.GetKind() == nil {
						t.Fatalf("row %d: column %s has no value", r.GetIndex(), s.Columns[i].Name)
					}
					if _, isNull := v.GetKind().(*sluicev1.Value_Null); isNull && !s.Columns[i].Nullable {
						t.Fatalf("row %d: null in non-nullable column %s", r.GetIndex(), s.Columns[i].Name)
					}
				}
				return nil
			},
			func(e transform.RowError) error {
				if e.Reason == "" {
					t.Fatalf("row error without a reason: %+v", e)
				}
				return nil
			})
		if err != nil && errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		if st.Rows != st.Emitted+st.Rejected {
			t.Fatalf("stats do not add up: %+v", st)
		}
	})
}
