// Package pgload bulk-upserts rows into PostgreSQL: COPY into a temporary table, then one
// INSERT … ON CONFLICT DO UPDATE guarded so that a row from an older extraction never
// replaces a newer one. It also creates tables and adds columns (additive migrations).
package pgload

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Lineage columns the loader adds to every table.
const (
	ColRecordID    = "_record_id"
	ColTraceID     = "_trace_id"
	ColExtractedAt = "_extracted_at"
	ColLoadedAt    = "_loaded_at"
	// ColDataVersion holds the source's version of the row's data (RowBatch.data_version:
	// a report's generation time, a source updated_at, a sequence), NULL when the source
	// gives none. The freshness guard orders by it before the extraction time.
	ColDataVersion = "_data_version"
)

// Column is a column of a target table.
type Column struct {
	Name string
	// Type is a PostgreSQL type name: text, bigint, integer, double precision, numeric,
	// boolean, date, timestamptz, jsonb, bytea.
	Type string
}

// Table describes a target table; PrimaryKey names columns of Columns.
type Table struct {
	Name       string
	Columns    []Column
	PrimaryKey []string
}

var identPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

var allowedTypes = map[string]bool{
	"text": true, "bigint": true, "integer": true, "double precision": true, "numeric": true,
	"boolean": true, "date": true, "timestamptz": true, "jsonb": true, "bytea": true,
}

// Validate names the wrong part of the table.
func (t Table) Validate() error {
	if !identPattern.MatchString(t.Name) {
		return fmt.Errorf("table %q: want a lowercase identifier", t.Name)
	}
	if len(t.Columns) == 0 {
		return fmt.Errorf("table %s: no columns", t.Name)
	}
	seen := map[string]bool{}
	for i, c := range t.Columns {
		if !identPattern.MatchString(c.Name) || strings.HasPrefix(c.Name, "_") {
			return fmt.Errorf("table %s: columns[%d] %q: want a lowercase identifier not starting with _", t.Name, i, c.Name)
		}
		if !allowedTypes[c.Type] {
			return fmt.Errorf("table %s: columns[%d] %s: type %q not supported", t.Name, i, c.Name, c.Type)
		}
		if seen[c.Name] {
			return fmt.Errorf("table %s: columns[%d] %s: declared twice", t.Name, i, c.Name)
		}
		seen[c.Name] = true
	}
	if len(t.PrimaryKey) == 0 {
		return fmt.Errorf("table %s: no primary key", t.Name)
	}
	for i, k := range t.PrimaryKey {
		if !seen[k] {
			return fmt.Errorf("table %s: primary_key[%d] %q is not a column", t.Name, i, k)
		}
	}
	return nil
}

// allColumns lists data columns then lineage columns, the order rows are copied in.
func (t Table) allColumns() []string {
	cols := make([]string, 0, len(t.Columns)+5)
	for _, c := range t.Columns {
		cols = append(cols, c.Name)
	}
	return append(cols, ColRecordID, ColTraceID, ColExtractedAt, ColLoadedAt, ColDataVersion)
}

func quote(ident string) string { return pgx.Identifier{ident}.Sanitize() }

func quoteAll(idents []string) string {
	q := make([]string, len(idents))
	for i, id := range idents {
		q[i] = quote(id)
	}
	return strings.Join(q, ", ")
}

// createSQL creates the table with its lineage columns.
func (t Table) createSQL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (", quote(t.Name))
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "%s %s, ", quote(c.Name), c.Type)
	}
	fmt.Fprintf(&b, "%s text NOT NULL, %s text, %s timestamptz NOT NULL, %s timestamptz NOT NULL DEFAULT now(), %s %s, PRIMARY KEY (%s))",
		ColRecordID, ColTraceID, ColExtractedAt, ColLoadedAt, ColDataVersion, dataVersionType, quoteAll(t.PrimaryKey))
	return b.String()
}

// dataVersionType is the type of ColDataVersion: unix nanoseconds or a sequence.
const dataVersionType = "bigint"

// lineageMigrations add the lineage columns that tables created by an older loader lack.
// Existing rows keep NULL, which the guard reads as "no version: use the extraction time".
func (t Table) lineageMigrations() []string {
	return []string{fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", quote(t.Name), ColDataVersion, dataVersionType)}
}

// freshness is the SQL of the order the guard keeps rows by, for the row of table alias
// rel: the source's data version, falling back to the extraction time in unix nanoseconds
// where the source gives none (the same fallback Tuples uses within a batch), then the
// extraction time.
func freshness(rel string) string {
	ext := rel + "." + quote(ColExtractedAt)
	return fmt.Sprintf("(COALESCE(%s.%s, (EXTRACT(EPOCH FROM %s) * 1000000000)::bigint), %s)", rel, quote(ColDataVersion), ext, ext)
}

// stageName names the temporary table rows are copied into: one per table and shape, so a
// migrated table gets a fresh one.
func (t Table) stageName() string {
	h := sha256.Sum256([]byte(fmt.Sprint(t.Name, t.Columns, t.PrimaryKey)))
	return "_sluice_stage_" + hex.EncodeToString(h[:8])
}

// upsertSQL moves rows from the temporary table into the target. The WHERE clause is the
// monotonic guard: an existing row of newer data (a later data version, or on equal
// versions a later extraction) stays, so a late-resumed old report or a replica with a
// skewed clock cannot overwrite fresher rows. A row of the same version and extraction is
// rewritten only when something differs, which makes a redelivered
// or replayed batch a no-op while a replay under a new spec version (a new column, a fixed
// expression) updates the rows it changes.
func (t Table) upsertSQL(tmp string) string {
	cols := t.allColumns()
	pk := map[string]bool{}
	for _, k := range t.PrimaryKey {
		pk[k] = true
	}
	var set, cur, inc []string
	for _, c := range cols {
		if pk[c] {
			continue
		}
		set = append(set, fmt.Sprintf("%s = EXCLUDED.%s", quote(c), quote(c)))
		if c != ColTraceID && c != ColLoadedAt {
			cur = append(cur, quote(t.Name)+"."+quote(c))
			inc = append(inc, "EXCLUDED."+quote(c))
		}
	}
	target := quote(t.Name)
	cf, inf := freshness(target), freshness("EXCLUDED")
	return fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (%s) DO UPDATE SET %s "+
		"WHERE %s < %s OR (%s = %s AND (%s) IS DISTINCT FROM (%s))",
		target, quoteAll(cols), quoteAll(cols), quote(tmp), quoteAll(t.PrimaryKey), strings.Join(set, ", "),
		cf, inf, cf, inf, "ROW("+strings.Join(cur, ", ")+")", "ROW("+strings.Join(inc, ", ")+")")
}
