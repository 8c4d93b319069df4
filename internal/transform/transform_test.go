package transform_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/transform"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// csvSpec is a spec over a CSV payload with columns id and name, with a rule.
func csvSpec(t testing.TB) *spec.Program {
	t.Helper()
	s := &spec.Spec{
		Provider: "p", Dataset: "d", Version: 1, Table: "t",
		Format: spec.Format{Type: spec.CSV},
		Columns: []spec.Column{
			{Name: "id", Type: spec.BigInt, Expr: "row.id"},
			{Name: "name", Type: spec.Text, Expr: "row.name.upperAscii()"},
		},
		PrimaryKey: []string{"id"},
		Rules:      []spec.Rule{{Name: "positive", Expr: "out.id > 0", Message: "id must be positive"}},
	}
	p, err := spec.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func csvPayload(n int) string {
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,name%d\n", i+1, i+1)
	}
	return b.String()
}

func open(t testing.TB, p *spec.Program, payload string) rowsource.Reader {
	t.Helper()
	r, err := rowsource.Open(p.Spec().Format, strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRowsOwnedByEmit keeps every emitted row and checks them at the end: the reader
// reuses its map and Run shares allocations between rows, which must not leak between rows.
func TestRowsOwnedByEmit(t *testing.T) {
	t.Parallel()
	p := csvSpec(t)
	const n = 1000
	var rows []*sluicev1.Row
	st, err := transform.Run(context.Background(), p, spec.Record{}, open(t, p, csvPayload(n)),
		func(r *sluicev1.Row) error { rows = append(rows, r); return nil },
		func(e transform.RowError) error { return fmt.Errorf("unexpected reject: %v", e) })
	if err != nil {
		t.Fatal(err)
	}
	if st != (transform.Stats{Rows: n, Emitted: n}) {
		t.Errorf("stats = %+v", st)
	}
	for i, r := range rows {
		if r.GetIndex() != int64(i) || r.GetValues()[0].GetInt() != int64(i+1) || r.GetValues()[1].GetString_() != fmt.Sprintf("NAME%d", i+1) {
			t.Fatalf("row %d = %v", i, r)
		}
	}
}

func TestRunRejects(t *testing.T) {
	t.Parallel()
	p := csvSpec(t)
	payload := "id,name\n1,a\n0,b\nx,c\n4\n5,e\n"
	var got []string
	st, err := transform.Run(context.Background(), p, spec.Record{}, open(t, p, payload),
		func(r *sluicev1.Row) error { got = append(got, fmt.Sprintf("row %d ok", r.GetIndex())); return nil },
		func(e transform.RowError) error { got = append(got, e.Error()); return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"row 0 ok",
		`row 1: rule "positive": id must be positive`,
		`row 2: column "id": cannot convert "x" to bigint`,
		"row 3: line 5, byte 20: has 1 fields, want 2 as in the header",
		"row 4 ok",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st != (transform.Stats{Rows: 5, Emitted: 2, Rejected: 3}) {
		t.Errorf("stats = %+v", st)
	}
}

func TestRunStops(t *testing.T) {
	t.Parallel()
	p := csvSpec(t)
	errStop := errors.New("stop")
	ignore := func(transform.RowError) error { return nil }
	keep := func(*sluicev1.Row) error { return nil }

	t.Run("emit error", func(t *testing.T) {
		t.Parallel()
		calls := 0
		st, err := transform.Run(context.Background(), p, spec.Record{}, open(t, p, csvPayload(10)),
			func(*sluicev1.Row) error {
				if calls++; calls == 3 {
					return errStop
				}
				return nil
			}, ignore)
		if !errors.Is(err, errStop) || !strings.Contains(err.Error(), "emit row 2") || st.Emitted != 3 {
			t.Errorf("err = %v, stats = %+v", err, st)
		}
	})
	t.Run("reject error", func(t *testing.T) {
		t.Parallel()
		_, err := transform.Run(context.Background(), p, spec.Record{}, open(t, p, "id,name\n0,a\n"), keep,
			func(transform.RowError) error { return errStop })
		if !errors.Is(err, errStop) || !strings.Contains(err.Error(), "reject row 0") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("source error", func(t *testing.T) {
		t.Parallel()
		p := csvSpec(t)
		big := "id,name\n1,a\n2,\"" + strings.Repeat("x", 2<<20) + "\"\n"
		st, err := transform.Run(context.Background(), p, spec.Record{}, open(t, p, big), keep, ignore)
		if !errors.Is(err, rowsource.ErrRowTooLarge) || !strings.Contains(err.Error(), "read row 1") || st.Emitted != 1 {
			t.Errorf("err = %v, stats = %+v", err, st)
		}
	})
	t.Run("context", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		st, err := transform.Run(ctx, p, spec.Record{}, open(t, p, csvPayload(2000)),
			func(*sluicev1.Row) error {
				if calls++; calls == 300 {
					cancel()
				}
				return nil
			}, ignore)
		if !errors.Is(err, context.Canceled) || st.Emitted >= 2000 {
			t.Errorf("err = %v, stats = %+v", err, st)
		}
	})
}

// TestRunConcurrent runs one Program from several goroutines (run with -race).
func TestRunConcurrent(t *testing.T) {
	t.Parallel()
	p := csvSpec(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			st, err := transform.Run(context.Background(), p, spec.Record{}, open(t, p, csvPayload(300)),
				func(*sluicev1.Row) error { return nil }, func(transform.RowError) error { return nil })
			if err != nil || st.Emitted != 300 {
				t.Errorf("err = %v, stats = %+v", err, st)
			}
		})
	}
	wg.Wait()
}

// TestJSONBCopiedAsWritten: a field that only goes into a jsonb column arrives as the
// source's own (compacted) text, while a field an expression looks into is built, and
// both mean what the source says.
func TestJSONBCopiedAsWritten(t *testing.T) {
	t.Parallel()
	s := &spec.Spec{
		Provider: "p", Dataset: "d", Version: 1, Table: "t",
		Format: spec.Format{Type: spec.NDJSON},
		Columns: []spec.Column{
			{Name: "id", Type: spec.BigInt, Expr: "row.id"},
			{Name: "doc", Type: spec.JSONB, Expr: "row.doc", Nullable: true},
			{Name: "meta", Type: spec.JSONB, Expr: "row.meta", Nullable: true},
			{Name: "meta_size", Type: spec.BigInt, Expr: "size(row.meta)"},
		},
		PrimaryKey: []string{"id"},
	}
	p, err := spec.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	payload := `{"id": 1, "doc": {"z": [1, 2.50, "\u00e9"], "a": {"b": null}}, "meta": {"y": 1, "x": [true]}}` + "\n" +
		`{"id": 2, "doc": "text", "meta": {}}` + "\n"
	var got [][]string
	_, err = transform.Run(context.Background(), p, spec.Record{}, open(t, p, payload), func(r *sluicev1.Row) error {
		got = append(got, []string{r.Values[1].GetJson(), r.Values[2].GetJson(), fmt.Sprint(r.Values[3].GetInt())})
		return nil
	}, func(e transform.RowError) error { return e })
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{`{"z":[1,2.50,"\u00e9"],"a":{"b":null}}`, `{"x":[true],"y":1}`, "2"}, // doc as written; meta was built
		{`"text"`, `{}`, "0"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows %q, want %q", got, want)
	}
}
