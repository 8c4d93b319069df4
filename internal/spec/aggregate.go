package spec

import (
	"fmt"
	"slices"
)

// Aggregate names how a column of a grouped spec folds the values of a group.
type Aggregate string

// The aggregates.
const (
	// Sum adds the non-null values (bigint, integer: overflow rejects the row that causes
	// it; numeric: exact; double). A group of nulls sums to null. A count is the sum of
	// the expression 1.
	Sum Aggregate = "sum"
)

// Grouped reports whether the spec summarizes each record by GroupBy.
//
// A grouped spec folds the rows of one record only: a record is the unit of delivery,
// so its summary is the same on every redelivery and replay, and the loader's upsert
// by primary key (which must be within GroupBy) replaces it instead of adding to it.
// Rows of one group must therefore come in one record (e.g. one report per account and
// day); groups are emitted in the order of their first row, Row.index counting groups.
func (s *Spec) Grouped() bool { return len(s.GroupBy) > 0 }

func (s *Spec) validateAggregate(fe *fieldErrors) {
	for i, name := range s.GroupBy {
		field := fmt.Sprintf("group_by[%d]", i)
		switch j := s.Column(name); {
		case j < 0:
			fe.add(field, "column %s not declared", QuoteShort(name))
		case slices.Index(s.GroupBy, name) < i:
			fe.add(field, "column %q listed twice", name)
		case s.Columns[j].Aggregate != "":
			fe.add(field, "column %q is aggregated; a group-by column cannot be", name)
		}
	}
	for i, c := range s.Columns {
		field := fmt.Sprintf("columns[%d].aggregate", i)
		grouping := slices.Contains(s.GroupBy, c.Name)
		switch {
		case !s.Grouped() && c.Aggregate != "":
			fe.add(field, "%q needs group_by on the spec", c.Aggregate)
		case !s.Grouped() || grouping:
		case c.Aggregate == "":
			fe.add(field, "column %q is neither in group_by nor aggregated (want %q)", c.Name, Sum)
		case c.Aggregate != Sum:
			fe.add(field, "unknown aggregate %s; want %q", QuoteShort(string(c.Aggregate)), Sum)
		case !slices.Contains([]Type{BigInt, Integer, Numeric, Double}, c.Type):
			fe.add(field, "sum of a %s column; want bigint, integer, numeric or double", c.Type)
		}
	}
	if s.Grouped() {
		for i, name := range s.PrimaryKey {
			if !slices.Contains(s.GroupBy, name) {
				fe.add(fmt.Sprintf("primary_key[%d]", i), "column %q is not in group_by: a grouped spec's key must identify its groups", name)
			}
		}
	}
}
