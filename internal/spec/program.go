package spec

import (
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Program is a compiled spec: every expression parsed, type-checked and planned once. It is
// immutable and safe for concurrent use; evaluate it through an [Evaluator] per goroutine.
type Program struct {
	spec    *Spec
	adapter types.Adapter
	columns []compiledExpr
	rules   []compiledExpr
	outUsed []bool // columns that some rule reads through `out`
	// rawFields are the source fields read only by jsonb columns copying them (see
	// RawFields).
	rawFields []string
}

// compiledExpr is one planned expression. When the expression only reads one field of the
// source row (row.x, row["x"] or row.?x.orValue(null)), field names it and the Evaluator
// reads the row directly: faster, and numbers keep their exact JSON text.
type compiledExpr struct {
	prg cel.Program
	// field is the source row key of a direct reference; hasField tells field "" apart.
	field    string
	hasField bool
	// missingIsNull is set for row.?x.orValue(null): an absent key reads as null.
	missingIsNull bool
	// perRecord is set when the expression does not read the row: its value depends on the
	// record only, so an Evaluator computes it once.
	perRecord bool
}

// maxEvalCost bounds the cost of one evaluation of an expression that loops
// (comprehensions such as map, filter, all), so a quadratic expression over a large list
// fails the row instead of stalling the transformer.
const maxEvalCost = 1_000_000

// Compile validates s (see Validate) and compiles its expressions. The returned Program
// keeps s, which must not be modified afterwards.
func Compile(s *Spec) (*Program, error) {
	return compile(s, true)
}

// Spec returns the spec the program was compiled from; do not modify it.
func (p *Program) Spec() *Spec { return p.spec }

// RuleReads reports whether some rule reads column i through `out`; the map given to
// Evaluator.SetOut needs only those columns.
func (p *Program) RuleReads(i int) bool { return p.outUsed[i] }

// RawFields names the source row fields that no expression looks into: each is read only
// by jsonb columns whose expression is the field itself (row.x). A reader may hand such a
// field's object or array over as its JSON text, since it goes into the table as it is.
func (p *Program) RawFields() []string { return p.rawFields }

// compile checks s and, if build is set, plans the programs.
func compile(s *Spec, build bool) (*Program, error) {
	var fe fieldErrors
	s.validateStatic(&fe)
	colEnv, ruleEnv, err := newEnvs()
	if err != nil {
		return nil, err
	}
	p := &Program{
		spec:    s,
		adapter: colEnv.CELTypeAdapter(),
		columns: make([]compiledExpr, len(s.Columns)),
		rules:   make([]compiledExpr, len(s.Rules)),
		outUsed: make([]bool, len(s.Columns)),
	}
	rows := rowReads{}
	for i, c := range s.Columns {
		field := fmt.Sprintf("columns[%d].expr", i)
		ast := checkExpr(&fe, colEnv, field, c.Expr)
		if ast == nil {
			continue
		}
		if f, _, direct := directField(ast.NativeRep().Expr()); direct {
			// A key column's text is compared as the key's (pgload), so it keeps the
			// canonical encoding.
			rows.direct(f, c.Type == JSONB && !slices.Contains(s.PrimaryKey, c.Name))
		} else {
			rows.read(ast)
		}
		if c.Type.Valid() {
			if msg := checkResultType(ast.OutputType(), c); msg != "" {
				fe.add(field, "%s", msg)
				continue
			}
		}
		if build {
			p.columns[i], err = plan(colEnv, ast)
			if err != nil {
				fe.add(field, "%v", err)
			}
		}
	}
	for i, r := range s.Rules {
		field := fmt.Sprintf("rules[%d].expr", i)
		ast := checkExpr(&fe, ruleEnv, field, r.Expr)
		if ast == nil {
			continue
		}
		if t := ast.OutputType(); t.Kind() != types.BoolKind && !t.IsDyn() {
			fe.add(field, "has type %s, want bool", t)
			continue
		}
		checkOutRefs(&fe, field, ast, s, p.outUsed)
		rows.read(ast)
		if build {
			p.rules[i], err = plan(ruleEnv, ast)
			if err != nil {
				fe.add(field, "%v", err)
			}
		}
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	if !s.Grouped() { // groups are keyed by the columns' text too
		p.rawFields = rows.raw()
	}
	return p, nil
}

// rowReads tells which source fields only jsonb copies read (Program.RawFields).
type rowReads struct {
	jsonb map[string]bool // fields copied into jsonb columns
	used  map[string]bool // fields read any other way
	whole bool            // some expression uses the row as a whole
}

func (r *rowReads) direct(field string, jsonb bool) {
	if jsonb {
		if r.jsonb == nil {
			r.jsonb = map[string]bool{}
		}
		r.jsonb[field] = true
		return
	}
	r.use(field)
}

func (r *rowReads) read(ast *cel.Ast) {
	names, whole := varRefs(ast, VarRow)
	r.whole = r.whole || whole
	for _, n := range names {
		r.use(n)
	}
}

func (r *rowReads) use(field string) {
	if r.used == nil {
		r.used = map[string]bool{}
	}
	r.used[field] = true
}

func (r *rowReads) raw() []string {
	if r.whole {
		return nil
	}
	var out []string
	for f := range r.jsonb {
		if !r.used[f] {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// checkExpr parses and type-checks expr, reporting each CEL issue with its position.
func checkExpr(fe *fieldErrors, env *cel.Env, field, expr string) *cel.Ast {
	if strings.TrimSpace(expr) == "" || len(expr) > maxExprLen {
		return nil // already reported by validateStatic
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		for _, e := range iss.Errors() {
			msg := strings.TrimSuffix(e.Message, " (in container '')")
			fe.add(field, "%s (at %d:%d)", msg, e.Location.Line(), e.Location.Column()+1)
		}
		return nil
	}
	return ast
}

// plan builds the program of a checked expression and detects direct row references.
func plan(env *cel.Env, ast *cel.Ast) (compiledExpr, error) {
	var ce compiledExpr
	root := ast.NativeRep().Expr()
	ce.field, ce.missingIsNull, ce.hasField = directField(root)
	ce.perRecord = !referencesRow(root)
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if hasComprehension(root) {
		opts = append(opts, cel.CostLimit(maxEvalCost))
	}
	prg, err := env.Program(ast, opts...)
	if err != nil {
		return ce, fmt.Errorf("plan: %w", err)
	}
	ce.prg = prg
	return ce, nil
}

// directField recognizes row.x, row["x"] and row.?x.orValue(null).
func directField(e celast.Expr) (field string, missingIsNull, ok bool) {
	switch e.Kind() {
	case celast.SelectKind:
		sel := e.AsSelect()
		if !sel.IsTestOnly() && isRowIdent(sel.Operand()) {
			return sel.FieldName(), false, true
		}
	case celast.CallKind:
		call := e.AsCall()
		switch {
		case call.FunctionName() == operators.Index && !call.IsMemberFunction() && len(call.Args()) == 2:
			if key, isStr := stringLiteral(call.Args()[1]); isStr && isRowIdent(call.Args()[0]) {
				return key, false, true
			}
		case call.FunctionName() == "orValue" && call.IsMemberFunction() && len(call.Args()) == 1:
			if call.Args()[0].Kind() != celast.LiteralKind || call.Args()[0].AsLiteral() != types.NullValue {
				return "", false, false
			}
			target := call.Target()
			if target.Kind() != celast.CallKind {
				return "", false, false
			}
			opt := target.AsCall()
			if (opt.FunctionName() == operators.OptSelect || opt.FunctionName() == operators.OptIndex) && len(opt.Args()) == 2 {
				if key, isStr := stringLiteral(opt.Args()[1]); isStr && isRowIdent(opt.Args()[0]) {
					return key, true, true
				}
			}
		}
	}
	return "", false, false
}

func isRowIdent(e celast.Expr) bool {
	return e.Kind() == celast.IdentKind && e.AsIdent() == VarRow
}

func stringLiteral(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

func hasComprehension(root celast.Expr) bool {
	found := false
	celast.PreOrderVisit(root, celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.ComprehensionKind {
			found = true
		}
	}))
	return found
}

// outRefs returns the columns a rule reads as out.x, out["x"] or out.?x, and whether it
// uses `out` in any other way (then it may read every column).
func outRefs(ast *cel.Ast) (names []string, whole bool) { return varRefs(ast, VarOut) }

// varRefs returns the keys an expression reads of the map variable name as name.x,
// name["x"], name.?x or has(name.x), and whether it uses the variable in any other way
// (then it may read every key).
func varRefs(ast *cel.Ast, name string) (names []string, whole bool) {
	idents, keyed := 0, 0
	celast.PreOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			if e.AsIdent() == name {
				idents++
			}
		case celast.SelectKind:
			sel := e.AsSelect()
			if sel.Operand().Kind() == celast.IdentKind && sel.Operand().AsIdent() == name {
				names = append(names, sel.FieldName())
				keyed++
			}
		case celast.CallKind:
			call := e.AsCall()
			fn := call.FunctionName()
			if fn != operators.Index && fn != operators.OptIndex && fn != operators.OptSelect || len(call.Args()) != 2 {
				return
			}
			if a := call.Args()[0]; a.Kind() != celast.IdentKind || a.AsIdent() != name {
				return
			}
			if key, ok := stringLiteral(call.Args()[1]); ok {
				names = append(names, key)
				keyed++
			}
		}
	}))
	return names, idents > keyed
}

// checkOutRefs reports out.x and out["x"] in a rule when x is not a declared column: `out`
// is a map(string, dyn) to CEL, so the type checker cannot see the typo. It marks the
// columns the rule reads in used.
func checkOutRefs(fe *fieldErrors, field string, ast *cel.Ast, s *Spec, used []bool) {
	names, whole := outRefs(ast)
	for _, name := range names {
		i := s.Column(name)
		if i < 0 {
			fe.add(field, "out.%s: column %s not declared", name, QuoteShort(name))
			continue
		}
		used[i] = true
	}
	if whole {
		for i := range used {
			used[i] = true
		}
	}
}

// referencesRow reports whether an expression reads the source row.
func referencesRow(root celast.Expr) bool {
	found := false
	celast.PreOrderVisit(root, celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.IdentKind && e.AsIdent() == VarRow {
			found = true
		}
	}))
	return found
}

// checkResultType returns why an expression of type t can never produce a value of the
// column's type, or "". Dynamic types are checked per row.
func checkResultType(t *cel.Type, c Column) string {
	k := t.Kind()
	if k == types.OpaqueKind && t.TypeName() == "optional_type" && len(t.Parameters()) == 1 {
		t = t.Parameters()[0]
		k = t.Kind()
	}
	if t.IsDyn() || k == types.ErrorKind {
		return ""
	}
	if k == types.NullTypeKind {
		if !c.Nullable {
			return fmt.Sprintf("is always null but column %q is not nullable", c.Name)
		}
		return ""
	}
	ok := false
	switch c.Type {
	case Text:
		ok = k == types.StringKind || k == types.IntKind || k == types.UintKind || k == types.DoubleKind ||
			k == types.BoolKind || k == types.TimestampKind
	case BigInt, Integer, Double, Numeric:
		ok = k == types.IntKind || k == types.UintKind || k == types.DoubleKind || k == types.StringKind
	case Boolean:
		ok = k == types.BoolKind || k == types.StringKind || k == types.IntKind
	case Date, TimestampTZ:
		ok = k == types.TimestampKind || k == types.StringKind
	case JSONB:
		ok = k != types.BytesKind && k != types.DurationKind && k != types.TypeKind
	case Bytea:
		ok = k == types.BytesKind || k == types.StringKind
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("has type %s, which cannot be converted to %s", t, c.Type)
}

// nativeValue converts an evaluation result to the Go values the transform package
// converts to column types: nil, bool, int64, uint64, float64, string, []byte, time.Time,
// map[string]any and []any.
func nativeValue(v ref.Val) (any, error) {
	switch v := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(v), nil
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return uint64(v), nil
	case types.Double:
		return float64(v), nil
	case types.String:
		return string(v), nil
	case types.Bytes:
		return []byte(v), nil
	case types.Timestamp:
		return v.Time, nil
	case *types.Optional:
		if !v.HasValue() {
			return nil, nil
		}
		return nativeValue(v.GetValue())
	case *types.Err:
		return nil, v
	}
	// Maps and lists that came from the source row convert back to what they were.
	switch raw := v.Value().(type) {
	case map[string]any:
		return raw, nil
	case []any:
		return raw, nil
	}
	return nativeAggregate(v)
}
