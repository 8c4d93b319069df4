package sqlcopy

import (
	"fmt"
	"strconv"
	"strings"
)

// keyCol is a keyset column: its quoted name and the type its parameters are cast to.
type keyCol struct{ name, udt string }

// query builds the SQL of one table's copy: simple statements the source can plan well
// (column list, filter and key range pushed down, an ORDER BY the key's index serves, a
// LIMIT), and no server-side cursor, so they run on PostgreSQL and Redshift alike. Key
// values travel as text parameters cast to the column's type.
type query struct {
	from    string
	selects []string
	order   []keyCol
	filter  string
	// rowCmp uses row-value comparisons, (a, b) > ($1, $2), which PostgreSQL serves
	// from a composite index; Redshift gets the equivalent expanded form.
	rowCmp bool
}

func newQuery(t *TableInfo, cols []Column, order []Column, filter, dialect string) query {
	q := query{from: quoteIdent(t.Schema) + "." + quoteIdent(t.Name), filter: filter, rowCmp: dialect != DialectRedshift}
	for _, c := range cols {
		q.selects = append(q.selects, c.selectExpr())
	}
	for _, c := range order {
		q.order = append(q.order, keyCol{name: quoteIdent(c.Name), udt: c.UDT})
	}
	return q
}

// page selects up to limit rows after the key after (exclusive; a key shorter than the
// order is a prefix compared inclusively, the start of an incremental pass) and up to
// upTo (inclusive; nil: no bound), in key order.
func (q query) page(after, upTo []string, limit int) (string, []any) {
	var where []string
	var args []any
	if q.filter != "" {
		where = append(where, "("+q.filter+")")
	}
	if len(after) > 0 {
		op := ">"
		if len(after) < len(q.order) {
			op = ">="
		}
		where = append(where, q.compare(q.order[:len(after)], op, after, &args))
	}
	if len(upTo) > 0 {
		where = append(where, q.compare(q.order[:len(upTo)], "<=", upTo, &args))
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(strings.Join(q.selects, ", "))
	b.WriteString(" FROM ")
	b.WriteString(q.from)
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY ")
	b.WriteString(q.orderBy(""))
	b.WriteString(" LIMIT ")
	b.WriteString(strconv.Itoa(limit))
	return b.String(), args
}

// compare is cols op values, op one of >, >=, <=.
func (q query) compare(cols []keyCol, op string, values []string, args *[]any) string {
	params := make([]string, len(cols))
	for i, c := range cols {
		*args = append(*args, values[i])
		params[i] = fmt.Sprintf("CAST($%d::text AS %s)", len(*args), quoteIdent(c.udt))
	}
	if len(cols) == 1 {
		return cols[0].name + " " + op + " " + params[0]
	}
	if q.rowCmp {
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = c.name
		}
		return "(" + strings.Join(names, ", ") + ") " + op + " (" + strings.Join(params, ", ") + ")"
	}
	// (a, b) > (x, y)  ≡  a > x OR (a = x AND b > y); ≥ and ≤ add the all-equal case.
	strict := op[:1]
	var alts []string
	for i := range cols {
		var terms []string
		for j := 0; j < i; j++ {
			terms = append(terms, cols[j].name+" = "+params[j])
		}
		terms = append(terms, cols[i].name+" "+strict+" "+params[i])
		alts = append(alts, "("+strings.Join(terms, " AND ")+")")
	}
	if len(op) == 2 {
		var eq []string
		for j := range cols {
			eq = append(eq, cols[j].name+" = "+params[j])
		}
		alts = append(alts, "("+strings.Join(eq, " AND ")+")")
	}
	return "(" + strings.Join(alts, " OR ") + ")"
}

func (q query) orderBy(dir string) string {
	names := make([]string, len(q.order))
	for i, c := range q.order {
		names[i] = c.name + dir
	}
	return strings.Join(names, ", ")
}

func (q query) where() string {
	if q.filter == "" {
		return ""
	}
	return " WHERE (" + q.filter + ")"
}

// count counts the rows the filter keeps.
func (q query) count() string { return "SELECT count(*) FROM " + q.from + q.where() }

// minMax reads the range of a single integer key.
func (q query) minMax() string {
	k := q.order[0].name
	return "SELECT min(" + k + "), max(" + k + ") FROM " + q.from + q.where()
}

// boundaries reads every step-th key in key order ($1 is step): the upper bounds of
// partitions of step rows each. A window function over the key is the one portable way
// to sample quantiles of a composite, text, uuid or timestamp key.
func (q query) boundaries() string {
	cols := q.orderBy("")
	return "SELECT " + cols + " FROM (SELECT " + cols + ", row_number() OVER (ORDER BY " + cols + ") AS sluice_rn FROM " +
		q.from + q.where() + ") s WHERE sluice_rn % $1 = 0 ORDER BY " + cols
}

// lastKey reads the greatest key.
func (q query) lastKey() string {
	return "SELECT " + q.orderBy("") + " FROM " + q.from + q.where() + " ORDER BY " + q.orderBy(" DESC") + " LIMIT 1"
}

// maxOf reads the greatest value of a column.
func (q query) maxOf(col string) string {
	return "SELECT max(" + quoteIdent(col) + ") FROM " + q.from + q.where()
}
