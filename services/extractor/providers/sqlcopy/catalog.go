package sqlcopy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/internal/spec"
)

// kind is how a column's text value becomes JSON in a page.
type kind uint8

const (
	kindText        kind = iota // a JSON string
	kindInt                     // a JSON number, as the source wrote it
	kindFloat                   // a number, or the string NaN, Infinity, -Infinity
	kindNumeric                 // an exact decimal number (NaN as a string, which loads as an error)
	kindBool                    // t/f → true/false
	kindJSON                    // the JSON document itself (json, jsonb, arrays)
	kindBytea                   // "\x…" hex, PostgreSQL's own text form
	kindDate                    // "2006-01-02"
	kindTimestamp               // without zone: "2006-01-02T15:04:05.999999" (read as UTC)
	kindTimestampTZ             // "2006-01-02T15:04:05.999999Z"
)

// Column is one source column as information_schema describes it.
type Column struct {
	Name string
	// DataType is information_schema's data_type, e.g. "timestamp with time zone", "ARRAY".
	DataType string
	// UDT is its udt_name, e.g. "int8", "_text": the name keyset parameters are cast to.
	UDT      string
	Nullable bool
}

func (c Column) kind() kind {
	switch c.DataType {
	case "smallint", "integer", "bigint", "oid":
		return kindInt
	case "real", "double precision":
		return kindFloat
	case "numeric", "decimal":
		return kindNumeric
	case "boolean":
		return kindBool
	case "json", "jsonb", "ARRAY":
		return kindJSON
	case "bytea":
		return kindBytea
	case "date":
		return kindDate
	case "timestamp without time zone":
		return kindTimestamp
	case "timestamp with time zone":
		return kindTimestampTZ
	}
	return kindText
}

// selectExpr is how the column is selected so that its text form is what kind expects:
// json and arrays as compact jsonb text (one line), types without a kind of their own
// (uuid, interval, enums, time…) as text.
func (c Column) selectExpr() string {
	q := quoteIdent(c.Name)
	switch {
	case c.DataType == "ARRAY":
		return "to_jsonb(" + q + ")"
	case c.DataType == "json":
		return q + "::jsonb"
	}
	return q
}

// SpecType maps the column to a dataset spec type without loss of value: integers to
// integer or bigint, floats to double, numeric to numeric (exact text), timestamps to
// timestamptz (a timestamp without zone is read as UTC), json, jsonb and arrays to jsonb,
// bytea to bytea, and everything else (text, varchar, uuid, interval, enums…) to its text.
func (c Column) SpecType() spec.Type {
	switch c.kind() {
	case kindInt:
		if c.DataType == "bigint" || c.DataType == "oid" {
			return spec.BigInt
		}
		return spec.Integer
	case kindFloat:
		return spec.Double
	case kindNumeric:
		return spec.Numeric
	case kindBool:
		return spec.Boolean
	case kindJSON:
		return spec.JSONB
	case kindBytea:
		return spec.Bytea
	case kindDate:
		return spec.Date
	case kindTimestamp, kindTimestampTZ:
		return spec.TimestampTZ
	}
	return spec.Text
}

// TableInfo is a source table's columns and primary key.
type TableInfo struct {
	Schema, Name string
	Columns      []Column
	PrimaryKey   []string
}

// Column returns the named column.
func (t *TableInfo) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// ErrTableNotFound is wrapped by ReadTable when the source has no such table.
var ErrTableNotFound = errors.New("not found")

// querier is what catalog reads need: a connection or a pool.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ReadTable reads a table's columns and primary key from information_schema (which
// PostgreSQL and Redshift both have).
func ReadTable(ctx context.Context, q querier, source string) (*TableInfo, error) {
	schema, name, err := splitSource(source)
	if err != nil {
		return nil, err
	}
	t := &TableInfo{Schema: schema, Name: name}
	rows, err := q.Query(ctx, `SELECT column_name::text, data_type::text, udt_name::text, is_nullable::text = 'YES'
		FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, schema, name)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", source, err)
	}
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Name, &c.DataType, &c.UDT, &c.Nullable); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read columns of %s: %w", source, err)
		}
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", source, err)
	}
	if len(t.Columns) == 0 {
		return nil, fmt.Errorf("table %s: %w, or no column visible to this user", source, ErrTableNotFound)
	}
	rows, err = q.Query(ctx, `SELECT k.column_name::text
		FROM information_schema.table_constraints c
		JOIN information_schema.key_column_usage k
		  ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
		 AND k.table_schema = c.table_schema AND k.table_name = c.table_name
		WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = $1 AND c.table_name = $2
		ORDER BY k.ordinal_position`, schema, name)
	if err != nil {
		return nil, fmt.Errorf("read primary key of %s: %w", source, err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read primary key of %s: %w", source, err)
		}
		t.PrimaryKey = append(t.PrimaryKey, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read primary key of %s: %w", source, err)
	}
	return t, nil
}

// DestName maps a source column name to a destination column name: lowercase, invalid
// characters as '_', a leading '_' or digit prefixed with "c" (names starting with '_'
// are the loader's lineage columns), and "_value" after a Postgres reserved word.
func DestName(src string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(src) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || s[0] == '_' || s[0] >= '0' && s[0] <= '9' {
		s = "c" + s
	}
	if spec.ReservedWord(s) {
		s += "_value"
	}
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// GenerateSpec builds the dataset spec of a table from its catalog: one column per
// selected source column (every column when cols is empty), typed by SpecType, computed
// as the source value, nullable as in the source; the primary key is key (default: the
// table's). The rows are the NDJSON pages the provider emits.
func GenerateSpec(t *TableInfo, dataset, table string, cols, key []string) (*spec.Spec, error) {
	if len(key) == 0 {
		key = t.PrimaryKey
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("table %s.%s has no primary key: name a unique, non-null key", t.Schema, t.Name)
	}
	if table == "" {
		table = DestName(t.Name)
	}
	sel, err := selected(t, cols, key, "")
	if err != nil {
		return nil, err
	}
	s := &spec.Spec{
		Schema:   "https://sluice.dev/schemas/dataset-spec.schema.json",
		Provider: Name, Dataset: dataset, Version: 1, Table: table,
		Description: fmt.Sprintf("Copied from %s.%s by the sqlcopy provider; generated from information_schema.", t.Schema, t.Name),
		Format:      spec.Format{Type: spec.NDJSON, MaxRowBytes: spec.MaxMaxRowBytes},
	}
	for _, c := range sel {
		nullable := c.Nullable && !slices.Contains(key, c.Name)
		s.Columns = append(s.Columns, spec.Column{
			Name: DestName(c.Name), Type: c.SpecType(), Expr: celField(c.Name), Nullable: nullable,
		})
	}
	for _, k := range key {
		s.PrimaryKey = append(s.PrimaryKey, DestName(k))
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("generated spec of %s.%s: %w", t.Schema, t.Name, err)
	}
	return s, nil
}

// selected returns the columns a copy reads: cols (all when empty), plus the key and
// version columns when cols leaves them out.
func selected(t *TableInfo, cols, key []string, version string) ([]Column, error) {
	names := cols
	if len(names) == 0 {
		for _, c := range t.Columns {
			names = append(names, c.Name)
		}
	}
	for _, k := range append(slices.Clone(key), version) {
		if k != "" && !slices.Contains(names, k) {
			names = append(names, k)
		}
	}
	out := make([]Column, 0, len(names))
	for _, n := range names {
		c, ok := t.Column(n)
		if !ok {
			return nil, fmt.Errorf("table %s.%s has no column %q", t.Schema, t.Name, n)
		}
		out = append(out, c)
	}
	return out, nil
}

var celIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// celReserved are CEL's reserved words, which cannot follow "row.".
var celReserved = map[string]bool{"in": true, "as": true, "break": true, "const": true, "continue": true, "else": true,
	"for": true, "function": true, "if": true, "import": true, "let": true, "loop": true, "package": true,
	"namespace": true, "return": true, "var": true, "void": true, "while": true, "true": true, "false": true, "null": true}

// celField is the CEL expression of source column name: row.name, or row["name"].
func celField(name string) string {
	if celIdent.MatchString(name) && !celReserved[name] {
		return "row." + name
	}
	return "row[" + celString(name) + "]"
}

// celString quotes s as a CEL string literal.
func celString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`)
	return `"` + r.Replace(s) + `"`
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// MarshalSpec renders a spec as the indented JSON of a spec file.
func MarshalSpec(s *spec.Spec) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
