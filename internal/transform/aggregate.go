package transform

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/sluice-dev/sluice/internal/spec"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// maxGroups bounds the groups of one record, so a grouped spec's memory stays bounded
// whatever the payload: a summary with more groups than this is not a summary.
const maxGroups = 100_000

// aggregator folds the computed rows of one record into one row per group (spec.Grouped).
type aggregator struct {
	columns []spec.Column
	group   []bool // by column: part of the group key
	index   map[string]int
	groups  []*group
	key     strings.Builder
}

type group struct {
	values []*sluicev1.Value // group-by columns as computed; aggregates filled at the end
	ints   []int64
	floats []float64
	decs   []*big.Rat
	scale  []int // decimal places of a numeric sum (the most of its addends)
	seen   []bool
}

func newAggregator(s *spec.Spec) *aggregator {
	a := &aggregator{columns: s.Columns, group: make([]bool, len(s.Columns)), index: map[string]int{}}
	for _, name := range s.GroupBy {
		a.group[s.Column(name)] = true
	}
	return a
}

// add folds row into its group. A row that would overflow a sum is rejected.
func (a *aggregator) add(row *sluicev1.Row) *RowError {
	a.key.Reset()
	for i, v := range row.Values {
		if a.group[i] {
			a.key.WriteString(valueKey(v))
			a.key.WriteByte(0)
		}
	}
	gi, ok := a.index[a.key.String()]
	if !ok {
		if len(a.groups) == maxGroups {
			return &RowError{Index: row.Index, Reason: fmt.Sprintf("more than %d groups in one record", maxGroups)}
		}
		n := len(a.columns)
		g := &group{values: make([]*sluicev1.Value, n), ints: make([]int64, n), floats: make([]float64, n),
			decs: make([]*big.Rat, n), scale: make([]int, n), seen: make([]bool, n)}
		for i, v := range row.Values {
			if a.group[i] {
				g.values[i] = v
			}
		}
		gi = len(a.groups)
		a.index[a.key.String()] = gi
		a.groups = append(a.groups, g)
	}
	g := a.groups[gi]
	// Check first, then fold: a rejected row leaves its group as it was.
	for i, v := range row.Values {
		if a.group[i] || isNull(v) {
			continue
		}
		if iv, ok := v.Kind.(*sluicev1.Value_Int); ok && g.seen[i] && addOverflows(g.ints[i], iv.Int) {
			return &RowError{Index: row.Index, Column: a.columns[i].Name, Reason: "sum overflows " + string(a.columns[i].Type)}
		}
	}
	for i, v := range row.Values {
		if a.group[i] || isNull(v) {
			continue
		}
		col := &a.columns[i]
		switch col.Type {
		case spec.Double:
			g.floats[i] += v.GetFloat()
		case spec.Numeric:
			d := v.GetDecimal()
			r, ok := new(big.Rat).SetString(d)
			if !ok { // the converter produced it: cannot happen
				return &RowError{Index: row.Index, Column: col.Name, Reason: "not a decimal: " + d}
			}
			if g.decs[i] == nil {
				g.decs[i] = new(big.Rat)
			}
			g.decs[i].Add(g.decs[i], r)
			g.scale[i] = max(g.scale[i], decimalPlaces(d))
		default:
			g.ints[i] += v.GetInt()
		}
		g.seen[i] = true
	}
	return nil
}

// rows returns the summary rows in order of each group's first row.
func (a *aggregator) rows() []*sluicev1.Row {
	out := make([]*sluicev1.Row, len(a.groups))
	for gi, g := range a.groups {
		row := &sluicev1.Row{Index: int64(gi), Values: make([]*sluicev1.Value, len(a.columns))}
		for i, col := range a.columns {
			switch {
			case a.group[i]:
				row.Values[i] = g.values[i]
			case !g.seen[i]:
				row.Values[i] = &sluicev1.Value{Kind: &sluicev1.Value_Null{Null: true}}
			case col.Type == spec.Double:
				row.Values[i] = &sluicev1.Value{Kind: &sluicev1.Value_Float{Float: g.floats[i]}}
			case col.Type == spec.Numeric:
				row.Values[i] = &sluicev1.Value{Kind: &sluicev1.Value_Decimal{Decimal: g.decs[i].FloatString(g.scale[i])}}
			default:
				row.Values[i] = &sluicev1.Value{Kind: &sluicev1.Value_Int{Int: g.ints[i]}}
			}
		}
		out[gi] = row
	}
	return out
}

func isNull(v *sluicev1.Value) bool {
	_, null := v.Kind.(*sluicev1.Value_Null)
	return null || v.Kind == nil
}

func addOverflows(a, b int64) bool {
	return (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b)
}

// decimalPlaces counts the digits after the point of a decimal text such as "14.50".
func decimalPlaces(d string) int {
	if i := strings.IndexByte(d, '.'); i >= 0 {
		return len(d) - i - 1
	}
	return 0
}

// valueKey renders a group-by value so that equal values, and only those, render alike.
func valueKey(v *sluicev1.Value) string {
	switch k := v.Kind.(type) {
	case *sluicev1.Value_String_:
		return "s" + k.String_
	case *sluicev1.Value_Int:
		return "i" + strconv.FormatInt(k.Int, 10)
	case *sluicev1.Value_Float:
		return "f" + strconv.FormatFloat(k.Float+0, 'g', -1, 64) // +0: -0 and 0 are one key
	case *sluicev1.Value_Decimal:
		r, ok := new(big.Rat).SetString(k.Decimal)
		if ok {
			return "d" + r.RatString() // 1.50 and 1.5 are one key
		}
		return "d" + k.Decimal
	case *sluicev1.Value_Bool:
		return "b" + strconv.FormatBool(k.Bool)
	case *sluicev1.Value_Timestamp:
		return "t" + strconv.FormatInt(k.Timestamp.GetSeconds(), 10) + "." + strconv.Itoa(int(k.Timestamp.GetNanos()))
	case *sluicev1.Value_Json:
		return "j" + k.Json
	case *sluicev1.Value_Bytes:
		return "x" + string(k.Bytes)
	}
	return "n"
}
