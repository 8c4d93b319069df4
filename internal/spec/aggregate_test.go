package spec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/spec"
)

// groupedSpec is a valid daily summary: cost summed per profile and date.
func groupedSpec() *spec.Spec {
	s := validSpec()
	s.Columns = []spec.Column{
		{Name: "profile_id", Type: spec.BigInt, Expr: "record.attributes.profileId"},
		{Name: "date", Type: spec.Date, Expr: "row.date"},
		{Name: "cost", Type: spec.Numeric, Expr: "row.cost", Aggregate: spec.Sum},
		{Name: "rows_count", Type: spec.BigInt, Expr: "1", Aggregate: spec.Sum},
	}
	s.GroupBy = []string{"profile_id", "date"}
	s.PrimaryKey = []string{"profile_id", "date"}
	s.Rules = nil
	return s
}

func TestValidateGroupBy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		modify func(s *spec.Spec)
		want   string // substring of the error; empty: valid
	}{
		{"valid", func(*spec.Spec) {}, ""},
		{"unknown group column", func(s *spec.Spec) { s.GroupBy = append(s.GroupBy, "nope") }, `group_by[2]: column "nope" not declared`},
		{"group column twice", func(s *spec.Spec) { s.GroupBy = append(s.GroupBy, "date") }, `group_by[2]: column "date" listed twice`},
		{"aggregated group column", func(s *spec.Spec) { s.Columns[1].Aggregate = spec.Sum }, `group_by[1]: column "date" is aggregated`},
		{"column neither grouped nor aggregated", func(s *spec.Spec) { s.Columns[2].Aggregate = "" }, `columns[2].aggregate: column "cost" is neither in group_by nor aggregated`},
		{"unknown aggregate", func(s *spec.Spec) { s.Columns[2].Aggregate = "avg" }, `columns[2].aggregate: unknown aggregate "avg"`},
		{"sum of text", func(s *spec.Spec) { s.Columns[2].Type = spec.Text }, "columns[2].aggregate: sum of a text column"},
		{"aggregate without group_by", func(s *spec.Spec) { s.GroupBy = nil }, `columns[2].aggregate: "sum" needs group_by on the spec`},
		{"key outside group_by", func(s *spec.Spec) {
			s.Columns[2].Aggregate = ""
			s.GroupBy = append(s.GroupBy, "cost")
			s.PrimaryKey = []string{"profile_id", "date", "rows_count"}
		}, `primary_key[2]: column "rows_count" is not in group_by`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := groupedSpec()
			c.modify(s)
			err := s.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("valid spec refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			case c.want != "" && !errors.Is(err, spec.ErrInvalid):
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
		})
	}
}
