package spec

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sluice-dev/sluice/internal/envelope"
)

// LineageColumns are added to every table by the loader; specs cannot declare them.
var lineageColumns = []string{"_record_id", "_trace_id", "_extracted_at", "_loaded_at"}

// LineageColumns returns the column names the loader adds to every table for lineage.
func LineageColumns() []string { return slices.Clone(lineageColumns) }

// Limits of a spec, so that a spec stays something Postgres and an operator can handle.
const (
	maxIdentifierLen = 63 // Postgres NAMEDATALEN - 1
	maxColumns       = 1600 - 4
	maxExprLen       = 8 << 10
)

// Validate checks the whole spec, CEL expressions included (they are parsed and
// type-checked), and returns every problem found (up to 50), joined. Each is a *FieldError
// that names the field, e.g. `columns[3].expr: undeclared reference to 'rwo' (at 1:1)` or
// `primary_key[1]: column "dat" not declared`; all match ErrInvalid.
func (s *Spec) Validate() error {
	_, err := compile(s, false)
	return err
}

// validateStatic checks everything but the CEL expressions.
func (s *Spec) validateStatic(fe *fieldErrors) {
	if !envelope.ValidName(s.Provider) {
		fe.add("provider", "%s: must start with a letter and contain only letters, digits, '_' or '-' (at most 64)", QuoteShort(s.Provider))
	}
	if !envelope.ValidName(s.Dataset) {
		fe.add("dataset", "%s: must start with a letter and contain only letters, digits, '_' or '-' (at most 64)", QuoteShort(s.Dataset))
	}
	if s.Version < 1 {
		fe.add("version", "must be at least 1, got %d", s.Version)
	}
	if msg := checkIdentifier(s.Table); msg != "" {
		fe.add("table", "%s", msg)
	}
	s.Format.validate(fe)

	if len(s.Columns) == 0 {
		fe.add("columns", "at least one column is required")
	}
	if len(s.Columns) > maxColumns {
		fe.add("columns", "%d columns, at most %d", len(s.Columns), maxColumns)
	}
	seen := make(map[string]int, len(s.Columns))
	for i, c := range s.Columns {
		field := fmt.Sprintf("columns[%d]", i)
		if msg := checkIdentifier(c.Name); msg != "" {
			fe.add(field+".name", "%s", msg)
		} else if j, dup := seen[c.Name]; dup {
			fe.add(field+".name", "%q already declared by columns[%d]", c.Name, j)
		} else {
			seen[c.Name] = i
		}
		if !c.Type.Valid() {
			fe.add(field+".type", "unknown type %s; want one of %s", QuoteShort(string(c.Type)), typeList())
		}
		checkExprText(fe, field+".expr", c.Expr)
	}

	if len(s.PrimaryKey) == 0 {
		fe.add("primary_key", "at least one column is required (the loader upserts on it)")
	}
	for i, name := range s.PrimaryKey {
		field := fmt.Sprintf("primary_key[%d]", i)
		j := s.Column(name)
		switch {
		case j < 0:
			fe.add(field, "column %s not declared", QuoteShort(name))
		case slices.Index(s.PrimaryKey, name) < i:
			fe.add(field, "column %q listed twice", name)
		case s.Columns[j].Nullable:
			fe.add(field, "column %q is nullable; key columns must not be", name)
		}
	}

	names := make(map[string]int, len(s.Rules))
	for i, r := range s.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		if r.Name != "" {
			if j, dup := names[r.Name]; dup {
				fe.add(field+".name", "%s already used by rules[%d]", QuoteShort(r.Name), j)
			}
			names[r.Name] = i
		}
		checkExprText(fe, field+".expr", r.Expr)
		if strings.TrimSpace(r.Message) == "" {
			fe.add(field+".message", "is required (it is what an operator reads when a row is rejected)")
		}
	}
}

func checkExprText(fe *fieldErrors, field, expr string) {
	switch {
	case strings.TrimSpace(expr) == "":
		fe.add(field, "is required")
	case len(expr) > maxExprLen:
		fe.add(field, "is %d bytes long, at most %d", len(expr), maxExprLen)
	case !utf8.ValidString(expr):
		fe.add(field, "is not valid UTF-8")
	}
}

func typeList() string {
	var b strings.Builder
	for i, t := range Types() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(t))
	}
	return b.String()
}

// checkIdentifier returns why name cannot be a Postgres table or column name, or "".
// Names are lowercase snake case and not reserved words, so that they read the same
// quoted or not, in generated SQL and in an operator's hand-written queries.
func checkIdentifier(name string) string {
	if name == "" {
		return "is required"
	}
	if isReservedWord(name) {
		return fmt.Sprintf("%q is a reserved word in Postgres; choose another name (e.g. %s_id or %s_value)", name, name, name)
	}
	if slices.Contains(lineageColumns, name) {
		return fmt.Sprintf("%q is reserved for the lineage columns the loader adds (%s)", name, strings.Join(lineageColumns, ", "))
	}
	if len(name) > maxIdentifierLen {
		return fmt.Sprintf("%s is %d bytes long, at most %d", QuoteShort(name), len(name), maxIdentifierLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || c == '_' && i > 0 || '0' <= c && c <= '9' && i > 0) {
			return fmt.Sprintf("%s: must be lowercase snake case (a letter, then a-z, 0-9 or _)", QuoteShort(name))
		}
	}
	return ""
}

func (f Format) validate(fe *fieldErrors) {
	csvOnly := func(field string, set bool) {
		if set && f.Type != CSV {
			fe.add("format."+field, "applies to csv only, not %s", f.Type)
		}
	}
	htmlOnly := func(field string, set bool) {
		if set && f.Type != HTMLTable {
			fe.add("format."+field, "applies to html_table only, not %s", f.Type)
		}
	}
	tabular := func(field string, set bool) {
		if set && f.Type != CSV && f.Type != HTMLTable {
			fe.add("format."+field, "applies to csv and html_table only, not %s", f.Type)
		}
	}
	switch f.Type {
	case JSONArray, NDJSON, CSV, HTMLTable:
	case "":
		fe.add("format.type", "is required; want one of json_array, ndjson, csv, html_table")
		return
	default:
		fe.add("format.type", "unknown format %s; want one of json_array, ndjson, csv, html_table", QuoteShort(string(f.Type)))
		return
	}
	if f.Path != "" {
		if f.Type != JSONArray {
			fe.add("format.path", "applies to json_array only, not %s", f.Type)
		} else if slices.Contains(strings.Split(f.Path, "."), "") {
			fe.add("format.path", "%s: empty key; want dot-separated keys such as \"report.rows\"", QuoteShort(f.Path))
		}
	}
	csvOnly("delimiter", f.Delimiter != "")
	csvOnly("comment", f.Comment != "")
	csvOnly("lazy_quotes", f.LazyQuotes)
	htmlOnly("table_index", f.TableIndex != 0)
	htmlOnly("table_id", f.TableID != "")
	tabular("skip_rows", f.SkipRows != 0)
	tabular("header", f.Header != nil)
	tabular("fields", len(f.Fields) > 0)

	var delim rune = ','
	if f.Delimiter != "" {
		delim = checkRune(fe, "format.delimiter", f.Delimiter)
	}
	if f.Comment != "" {
		if c := checkRune(fe, "format.comment", f.Comment); c == delim {
			fe.add("format.comment", "equals the delimiter")
		}
	}
	if f.TableIndex < 0 {
		fe.add("format.table_index", "must not be negative, got %d", f.TableIndex)
	}
	if f.TableIndex != 0 && f.TableID != "" {
		fe.add("format.table_id", "set together with table_index; choose one")
	}
	if f.SkipRows < 0 {
		fe.add("format.skip_rows", "must not be negative, got %d", f.SkipRows)
	}
	if !f.HasHeader() && len(f.Fields) == 0 && (f.Type == CSV || f.Type == HTMLTable) {
		fe.add("format.fields", "is required when header is false")
	}
	seen := make(map[string]int, len(f.Fields))
	for i, name := range f.Fields {
		field := fmt.Sprintf("format.fields[%d]", i)
		if name == "" {
			fe.add(field, "is empty")
		} else if j, dup := seen[name]; dup {
			fe.add(field, "%s already used by format.fields[%d]", QuoteShort(name), j)
		}
		seen[name] = i
	}
	if f.MaxRowBytes < 0 || f.MaxRowBytes > MaxMaxRowBytes {
		fe.add("format.max_row_bytes", "must be between 0 (default %d) and %d, got %d", DefaultMaxRowBytes, MaxMaxRowBytes, f.MaxRowBytes)
	}
}

// checkRune returns the single character of s, reporting a problem when s is not one
// character usable as a CSV delimiter or comment.
func checkRune(fe *fieldErrors, field, s string) rune {
	r, size := utf8.DecodeRuneInString(s)
	switch {
	case size != len(s) || r == utf8.RuneError:
		fe.add(field, "%s: must be exactly one character", QuoteShort(s))
	case r == '"' || r == '\r' || r == '\n' || r == 0xFEFF:
		fe.add(field, "%q cannot be used", r)
	}
	return r
}

// ReservedWord reports whether name is a Postgres keyword that a column cannot be named
// (see Validate): generators of specs rename such columns.
func ReservedWord(name string) bool { return isReservedWord(name) }

// isReservedWord reports whether name is a Postgres keyword that cannot be a column name
// without quotes (reserved, and reserved but allowed as function or type names).
func isReservedWord(name string) bool {
	switch name {
	case "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both",
		"case", "cast", "check", "collate", "column", "constraint", "create", "current_catalog",
		"current_date", "current_role", "current_time", "current_timestamp", "current_user",
		"default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "false",
		"fetch", "for", "foreign", "from", "grant", "group", "having", "in", "initially",
		"intersect", "into", "lateral", "leading", "limit", "localtime", "localtimestamp", "not",
		"null", "offset", "on", "only", "or", "order", "placing", "primary", "references",
		"returning", "select", "session_user", "some", "symmetric", "system_user", "table",
		"then", "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "when",
		"where", "window", "with",
		"authorization", "binary", "collation", "concurrently", "cross", "current_schema",
		"freeze", "full", "ilike", "inner", "is", "isnull", "join", "left", "like", "natural",
		"notnull", "outer", "overlaps", "right", "similar", "tablesample", "verbose":
		return true
	}
	return false
}
