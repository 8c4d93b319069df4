package transform_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/transform"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

func summarySpec() *spec.Spec {
	return &spec.Spec{
		Provider: "acme", Dataset: "daily", Version: 1, Table: "acme_daily",
		Format: spec.Format{Type: spec.CSV},
		Columns: []spec.Column{
			{Name: "account", Type: spec.Text, Expr: "row.account"},
			{Name: "day", Type: spec.Date, Expr: "row.day"},
			{Name: "lines", Type: spec.BigInt, Expr: "1", Aggregate: spec.Sum},
			{Name: "units", Type: spec.BigInt, Expr: "row.units", Aggregate: spec.Sum},
			{Name: "amount", Type: spec.Numeric, Expr: "row.amount", Aggregate: spec.Sum},
			{Name: "bonus", Type: spec.Numeric, Expr: "row.bonus == '' ? null : row.bonus", Nullable: true, Aggregate: spec.Sum},
			{Name: "ratio", Type: spec.Double, Expr: "row.ratio", Aggregate: spec.Sum},
		},
		GroupBy:    []string{"account", "day"},
		PrimaryKey: []string{"account", "day"},
	}
}

// TestGroupedSpecSummarizesARecord: one row per group in order of first appearance,
// exact decimal sums at the largest scale, nulls skipped (all null: null), bad rows
// rejected one by one and left out of the sums, an overflowing sum rejects its row.
func TestGroupedSpecSummarizesARecord(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		csv      string
		want     []string
		rejected []string
	}{
		{"two groups in first-seen order",
			"account,day,units,amount,bonus,ratio\nb,2024-06-01,2,1.10,,0.5\na,2024-06-01,1,0.2,1,0.25\nb,2024-06-01,3,2.005,,0.25\n",
			[]string{"0|b|2024-06-01|2|5|3.105|null|0.75", "1|a|2024-06-01|1|1|0.2|1|0.25"}, nil},
		{"a bad row is rejected and not summed",
			"account,day,units,amount,bonus,ratio\na,2024-06-01,1,1.00,,1\na,2024-06-01,x,5.00,,1\na,2024-06-01,2,2.50,0.10,1\n",
			[]string{"0|a|2024-06-01|2|3|3.50|0.10|2"}, []string{`row 1: column "units"`}},
		{"overflow rejects the row that causes it",
			"account,day,units,amount,bonus,ratio\na,2024-06-01,9223372036854775807,1,,0\na,2024-06-01,1,1,,0\n",
			[]string{"0|a|2024-06-01|1|9223372036854775807|1|null|0"}, []string{`row 1: column "units": sum overflows bigint`}},
		{"no rows, no groups", "account,day,units,amount,bonus,ratio\n", nil, nil},
	}
	prog, err := spec.Compile(summarySpec())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			src, err := rowsource.Open(prog.Spec().Format, strings.NewReader(c.csv))
			if err != nil {
				t.Fatal(err)
			}
			var got, rejected []string
			st, err := transform.Run(context.Background(), prog, spec.Record{Provider: "acme", Dataset: "daily"}, src,
				func(r *sluicev1.Row) error { got = append(got, rowText(r)); return nil },
				func(e transform.RowError) error { rejected = append(rejected, e.Error()); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("rows\n got %q\nwant %q", got, c.want)
			}
			if len(rejected) != len(c.rejected) {
				t.Fatalf("rejected %q, want %q", rejected, c.rejected)
			}
			for i, r := range rejected {
				if !strings.HasPrefix(r, c.rejected[i]) {
					t.Errorf("rejected %q, want %q…", r, c.rejected[i])
				}
			}
			if st.Emitted != int64(len(c.want)) || st.Rejected != int64(len(c.rejected)) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func rowText(r *sluicev1.Row) string {
	parts := []string{fmt.Sprint(r.Index)}
	for _, v := range r.Values {
		switch k := v.Kind.(type) {
		case *sluicev1.Value_String_:
			parts = append(parts, k.String_)
		case *sluicev1.Value_Int:
			parts = append(parts, fmt.Sprint(k.Int))
		case *sluicev1.Value_Decimal:
			parts = append(parts, k.Decimal)
		case *sluicev1.Value_Float:
			parts = append(parts, fmt.Sprint(k.Float))
		case *sluicev1.Value_Timestamp:
			parts = append(parts, k.Timestamp.AsTime().Format("2006-01-02"))
		case *sluicev1.Value_Null:
			parts = append(parts, "null")
		}
	}
	return strings.Join(parts, "|")
}

// FuzzGroupedSpec: any CSV through a grouped spec ends without panic, with at most one
// summary row per source row and every group key emitted once.
func FuzzGroupedSpec(f *testing.F) {
	f.Add("account,day,units,amount,bonus,ratio\nb,2024-06-01,2,1.10,,0.5\na,2024-06-01,1,0.2,1,0.25\n")
	f.Add("account,day,units,amount,bonus,ratio\na,2024-06-01,9223372036854775807,1e3,,1\na,2024-06-01,1,-0.001,2,-1\n")
	prog, err := spec.Compile(summarySpec())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		src, err := rowsource.Open(prog.Spec().Format, strings.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		keys := map[string]bool{}
		st, _ := transform.Run(context.Background(), prog, spec.Record{}, src,
			func(r *sluicev1.Row) error {
				k := rowText(&sluicev1.Row{Values: r.Values[:2]})
				if keys[k] {
					t.Fatalf("group %s emitted twice", k)
				}
				keys[k] = true
				return nil
			},
			func(transform.RowError) error { return nil })
		if st.Emitted > st.Rows {
			t.Fatalf("%d summary rows from %d source rows", st.Emitted, st.Rows)
		}
	})
}
