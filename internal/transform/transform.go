// Package transform applies a compiled dataset spec to the rows of a payload: it computes
// every column, converts it to the column type, checks the spec's rules and yields typed
// rows or row errors that say exactly what was wrong, as a stream, so the transformer can
// publish RowBatch messages of bounded size whatever the payload size.
package transform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/spec"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// RowError is a source row that was rejected. Index is the row's position in its record
// (as Row.index); Column names the column whose expression or conversion failed and Rule
// the rule the row broke, when either applies.
type RowError struct {
	Index  int64
	Column string
	Rule   string
	Reason string
}

// Error renders the row error, e.g. `row 17: column "cost": cannot convert "abc" to
// numeric`.
func (e RowError) Error() string {
	switch {
	case e.Column != "":
		return "row " + strconv.FormatInt(e.Index, 10) + ": column " + strconv.Quote(e.Column) + ": " + e.Reason
	case e.Rule != "":
		return "row " + strconv.FormatInt(e.Index, 10) + ": rule " + strconv.Quote(e.Rule) + ": " + e.Reason
	}
	return "row " + strconv.FormatInt(e.Index, 10) + ": " + e.Reason
}

// Stats counts what Run did.
type Stats struct {
	// Rows is the number of source rows read: Emitted + Rejected, but for a grouped
	// spec, whose Emitted counts summary rows.
	Rows     int64 `json:"rows"`
	Emitted  int64 `json:"emitted"`
	Rejected int64 `json:"rejected"`
}

// ctxCheckEvery is how many rows Run processes between checks of its context.
const ctxCheckEvery = 256

// Run reads every row of src, computes it with prog and calls emit with each valid row (its
// values in column order, Index its position in the record) or reject with each row error.
// Rows are computed and handed over one at a time, so memory does not grow with the
// payload; emit owns the rows it gets and may keep them (to fill a RowBatch).
//
// A grouped spec (spec.Spec.Grouped) emits its summary rows at the end of src instead,
// one per group; rows are still rejected one by one as they are read.
//
// Run returns at the end of src with nil, or with the first error of src (a payload that
// cannot be read further), of emit or of reject, or ctx's error once ctx is done. Stats
// count what was done until then. Run is safe to call concurrently with the same Program.
func Run(ctx context.Context, prog *spec.Program, rec spec.Record, src rowsource.Reader,
	emit func(*sluicev1.Row) error, reject func(RowError) error) (Stats, error) {
	r := newRunner(prog, rec)
	if k, ok := src.(rowsource.RawKeeper); ok && len(prog.RawFields()) > 0 {
		// Objects that only go into jsonb columns are not built just to be encoded again.
		k.KeepRaw(prog.RawFields())
	}
	var agg *aggregator
	if prog.Spec().Grouped() {
		agg = newAggregator(prog.Spec())
	}
	var st Stats
	for index := int64(0); ; index++ {
		if index%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		srcRow, err := src.Next()
		if errors.Is(err, io.EOF) && agg != nil {
			// Summary rows count as emitted; their source rows were read.
			for _, row := range agg.rows() {
				st.Emitted++
				if err := emit(row); err != nil {
					return st, fmt.Errorf("emit group %d: %w", row.Index, err)
				}
			}
			return st, nil
		}
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		var rowErr *rowsource.RowError
		if err != nil && !errors.As(err, &rowErr) {
			return st, fmt.Errorf("read row %d: %w", index, err)
		}
		st.Rows++
		var row *sluicev1.Row
		var bad *RowError
		if rowErr != nil {
			bad = &RowError{Index: rowErr.Index, Reason: sourceReason(rowErr)}
		} else {
			row, bad = r.row(index, srcRow)
		}
		if bad == nil && agg != nil {
			if bad = agg.add(row); bad == nil {
				continue
			}
		}
		if bad != nil {
			st.Rejected++
			if err := reject(*bad); err != nil {
				return st, fmt.Errorf("reject row %d: %w", index, err)
			}
			continue
		}
		st.Emitted++
		if err := emit(row); err != nil {
			return st, fmt.Errorf("emit row %d: %w", index, err)
		}
	}
}

// sourceReason describes a row the reader could not parse, with its position.
func sourceReason(e *rowsource.RowError) string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d, byte %d: %v", e.Line, e.Offset, e.Err)
	}
	return fmt.Sprintf("byte %d: %v", e.Offset, e.Err)
}

// runner computes rows for one Run; it reuses everything it can from row to row.
type runner struct {
	prog    *spec.Program
	columns []spec.Column
	rules   []spec.Rule
	ev      *spec.Evaluator
	conv    converter
	out     map[string]any // the computed row as rules see it, reused

	rows   slab[sluicev1.Row]
	values slab[sluicev1.Value]
	ptrs   ptrSlab[sluicev1.Value]
	nulls  slab[sluicev1.Value_Null]
	strs   slab[sluicev1.Value_String_]
	ints   slab[sluicev1.Value_Int]
	floats slab[sluicev1.Value_Float]
	bools  slab[sluicev1.Value_Bool]
	times  slab[sluicev1.Value_Timestamp]
	tss    slab[timestamppb.Timestamp]
	decs   slab[sluicev1.Value_Decimal]
	jsons  slab[sluicev1.Value_Json]
	blobs  slab[sluicev1.Value_Bytes]
}

func newRunner(prog *spec.Program, rec spec.Record) *runner {
	s := prog.Spec()
	r := &runner{prog: prog, columns: s.Columns, rules: s.Rules, ev: prog.NewEvaluator(rec)}
	if len(s.Rules) > 0 {
		r.out = make(map[string]any, len(s.Columns))
	}
	return r
}

// row computes one row, or says why it is rejected.
func (r *runner) row(index int64, src map[string]any) (*sluicev1.Row, *RowError) {
	r.ev.SetRow(src)
	row := r.rows.new()
	row.Index = index
	row.Values = r.ptrs.take(len(r.columns))
	for i := range r.columns {
		col := &r.columns[i]
		v, err := r.ev.Column(i)
		if err != nil {
			return nil, &RowError{Index: index, Column: col.Name, Reason: err.Error()}
		}
		c, err := r.conv.convert(col.Type, v)
		if err != nil {
			return nil, &RowError{Index: index, Column: col.Name, Reason: err.Error()}
		}
		if c.null && !col.Nullable {
			return nil, &RowError{Index: index, Column: col.Name, Reason: "null in a column that is not nullable"}
		}
		row.Values[i] = r.value(col.Type, c)
		if r.out != nil && r.prog.RuleReads(i) {
			r.out[col.Name] = ruleValue(col.Type, c, v)
		}
	}
	if len(r.rules) > 0 {
		r.ev.SetOut(r.out)
		for i := range r.rules {
			rule := &r.rules[i]
			name := rule.Name
			if name == "" {
				name = "rules[" + strconv.Itoa(i) + "]"
			}
			ok, err := r.ev.Rule(i)
			if err != nil {
				return nil, &RowError{Index: index, Rule: name, Reason: "cannot evaluate: " + err.Error()}
			}
			if !ok {
				return nil, &RowError{Index: index, Rule: name, Reason: rule.Message}
			}
		}
	}
	return row, nil
}

// value builds the Value of a converted cell.
func (r *runner) value(t spec.Type, c cell) *sluicev1.Value {
	v := r.values.new()
	if c.null {
		k := r.nulls.new()
		k.Null = true
		v.Kind = k
		return v
	}
	switch t {
	case spec.Text:
		k := r.strs.new()
		k.String_ = c.s
		v.Kind = k
	case spec.BigInt, spec.Integer:
		k := r.ints.new()
		k.Int = c.i
		v.Kind = k
	case spec.Double:
		k := r.floats.new()
		k.Float = c.f
		v.Kind = k
	case spec.Numeric:
		k := r.decs.new()
		k.Decimal = c.s
		v.Kind = k
	case spec.Boolean:
		k := r.bools.new()
		k.Bool = c.i != 0
		v.Kind = k
	case spec.Date, spec.TimestampTZ:
		ts := r.tss.new()
		ts.Seconds, ts.Nanos = c.t.Unix(), int32(c.t.Nanosecond())
		k := r.times.new()
		k.Timestamp = ts
		v.Kind = k
	case spec.JSONB:
		k := r.jsons.new()
		k.Json = c.s
		v.Kind = k
	case spec.Bytea:
		k := r.blobs.new()
		k.Bytes = []byte(c.s)
		v.Kind = k
	}
	return v
}

// ruleValue is a converted value as rules see it in `out`.
func ruleValue(t spec.Type, c cell, raw any) any {
	if c.null {
		return nil
	}
	switch t {
	case spec.Text:
		return c.s
	case spec.BigInt, spec.Integer:
		return c.i
	case spec.Double:
		return c.f
	case spec.Numeric:
		f, _ := strconv.ParseFloat(c.s, 64) // checked decimal text; precision is enough for rules
		return f
	case spec.Boolean:
		return c.i != 0
	case spec.Date, spec.TimestampTZ:
		return c.t
	case spec.JSONB:
		return raw
	case spec.Bytea:
		return []byte(c.s)
	}
	return nil
}
