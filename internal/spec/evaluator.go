package spec

import (
	"fmt"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// Record is what expressions see as `record`: where the payload came from.
type Record struct {
	Provider    string
	Dataset     string
	SourceKey   string
	RunID       string
	ExtractedAt time.Time
	Attributes  map[string]string
}

// Evaluator evaluates a Program's expressions over one source row at a time. It reuses its
// CEL activation from row to row, so evaluating allocates only what expressions build. An
// Evaluator is not safe for concurrent use: make one per goroutine (they are cheap).
type Evaluator struct {
	p   *Program
	act activation
	// Values of the per-record columns, computed on first use.
	recordDone []bool
	recordVal  []any
	recordErr  []error
}

// NewEvaluator returns an Evaluator for the rows of one record.
func (p *Program) NewEvaluator(rec Record) *Evaluator {
	attrs := rec.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	n := len(p.columns)
	e := &Evaluator{p: p, recordDone: make([]bool, n), recordVal: make([]any, n), recordErr: make([]error, n)}
	e.act.adapter = p.adapter
	e.act.record = types.NewStringInterfaceMap(p.adapter, map[string]any{
		"provider":     rec.Provider,
		"dataset":      rec.Dataset,
		"source_key":   rec.SourceKey,
		"run_id":       rec.RunID,
		"extracted_at": rec.ExtractedAt,
		"attributes":   attrs,
	})
	return e
}

// SetRow makes row the source row of the following evaluations. The Evaluator does not
// modify it and does not keep it beyond the next SetRow.
func (e *Evaluator) SetRow(row map[string]any) {
	e.act.row = row
	e.act.rowVal = nil
	e.act.out = nil
	e.act.outVal = nil
}

// SetOut makes out the computed row rules see as `out`: values as Column documents them,
// with numeric as float64 and date as time.Time. Only the columns for which
// Program.RuleReads is true need to be set.
func (e *Evaluator) SetOut(out map[string]any) {
	e.act.out = out
	e.act.outVal = nil
}

// Column evaluates the expression of column i over the current row and returns its value
// as nil, bool, int64, uint64, float64, string, json.Number (a JSON number read directly
// from the row), []byte, time.Time, map[string]any or []any.
func (e *Evaluator) Column(i int) (any, error) {
	ce := &e.p.columns[i]
	if ce.hasField {
		v, ok := e.act.row[ce.field]
		if !ok && !ce.missingIsNull {
			return nil, fmt.Errorf("no such key: %s", ce.field)
		}
		return v, nil
	}
	if ce.perRecord {
		if !e.recordDone[i] {
			e.recordVal[i], e.recordErr[i] = e.eval(ce)
			e.recordDone[i] = true
		}
		return e.recordVal[i], e.recordErr[i]
	}
	return e.eval(ce)
}

func (e *Evaluator) eval(ce *compiledExpr) (any, error) {
	out, _, err := ce.prg.Eval(&e.act)
	if err != nil {
		return nil, err
	}
	return nativeValue(out)
}

// Rule evaluates rule i over the current row and the out map set with SetOut.
func (e *Evaluator) Rule(i int) (bool, error) {
	out, _, err := e.p.rules[i].prg.Eval(&e.act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("result has type %s, want bool", out.Type())
	}
	return bool(b), nil
}

// activation resolves the CEL variables. Maps are wrapped for CEL lazily, once per row.
type activation struct {
	adapter types.Adapter
	record  ref.Val
	row     map[string]any
	rowVal  ref.Val
	out     map[string]any
	outVal  ref.Val
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case VarRow:
		if a.rowVal == nil {
			a.rowVal = types.NewStringInterfaceMap(a.adapter, a.row)
		}
		return a.rowVal, true
	case VarRecord:
		return a.record, true
	case VarOut:
		if a.outVal == nil {
			a.outVal = types.NewStringInterfaceMap(a.adapter, a.out)
		}
		return a.outVal, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
