package spec

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// ErrIncompatible is wrapped by Compatible when a new spec version would change what is
// already in its table in a way the loader cannot do by itself.
var ErrIncompatible = errors.New("incompatible spec change")

// Change is one difference between two versions of a spec, as its table sees it.
type Change struct {
	// What changed: "table", "primary_key", "column added", "column dropped", "type",
	// "nullable", "expr", "format", "rules" or "description".
	What   string `json:"what"`
	Column string `json:"column,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	// Breaking changes are refused unless the operator migrated the table first; Why says
	// what would go wrong and Migration is the SQL that makes the table fit the new spec.
	Breaking  bool   `json:"breaking,omitempty"`
	Why       string `json:"why,omitempty"`
	Migration string `json:"migration,omitempty"`
}

// String renders the change on one line, e.g. `type of "cost": numeric → text (breaking)`.
func (c Change) String() string {
	var b strings.Builder
	b.WriteString(c.What)
	if c.Column != "" {
		fmt.Fprintf(&b, " %q", c.Column)
	}
	if c.From != "" || c.To != "" {
		fmt.Fprintf(&b, ": %s → %s", orNone(c.From), orNone(c.To))
	}
	if c.Breaking {
		b.WriteString(" (breaking)")
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Diff lists what changes in the table and its rows when next replaces prev, in a fixed
// order: table, key, then columns in next's order, then dropped columns, then the rest.
func Diff(prev, next *Spec) []Change {
	var out []Change
	table := quoteIdent(next.Table)
	if prev.Table != next.Table {
		out = append(out, Change{What: "table", From: prev.Table, To: next.Table, Breaking: true,
			Why:       fmt.Sprintf("rows loaded so far stay in %s while new rows go to %s, and the dataset keeps its claim on %s", prev.Table, next.Table, prev.Table),
			Migration: fmt.Sprintf("ALTER TABLE %s RENAME TO %s; -- then delete the claim key _table.%s in the sluice-specs bucket", quoteIdent(prev.Table), table, prev.Table)})
	}
	if !slices.Equal(prev.PrimaryKey, next.PrimaryKey) {
		out = append(out, Change{What: "primary_key", From: strings.Join(prev.PrimaryKey, ","), To: strings.Join(next.PrimaryKey, ","), Breaking: true,
			Why: "the loader upserts on the primary key: rows already loaded under the old key would not be matched by new ones, so the same data would be kept twice",
			Migration: fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s, ADD PRIMARY KEY (%s); -- fails if the new key is not unique over the loaded rows",
				table, quoteIdent(next.Table+"_pkey"), joinIdents(next.PrimaryKey))})
	}
	for _, nc := range next.Columns {
		i := prev.Column(nc.Name)
		if i < 0 {
			out = append(out, Change{What: "column added", Column: nc.Name, To: string(nc.Type),
				Why: "the loader adds it (NULL in rows loaded before; sluice replay fills them)"})
			continue
		}
		pc := prev.Columns[i]
		if pc.Type != nc.Type {
			out = append(out, Change{What: "type", Column: nc.Name, From: string(pc.Type), To: string(nc.Type), Breaking: true,
				Why: fmt.Sprintf("the table's column is %s; the loader only adds columns and never converts one, so new rows would not load", pc.Type.PostgresType()),
				Migration: fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s TYPE %s USING %s::%s;", table, quoteIdent(nc.Name),
					nc.Type.PostgresType(), quoteIdent(nc.Name), nc.Type.PostgresType())})
		}
		if pc.Nullable != nc.Nullable {
			out = append(out, Change{What: "nullable", Column: nc.Name, From: fmt.Sprint(pc.Nullable), To: fmt.Sprint(nc.Nullable),
				Why: "checked on new rows only; rows loaded before keep their NULLs"})
		}
		if pc.Expr != nc.Expr {
			out = append(out, Change{What: "expr", Column: nc.Name, From: pc.Expr, To: nc.Expr,
				Why: "applies to rows transformed from now on; sluice replay re-applies it to staged data"})
		}
	}
	for _, pc := range prev.Columns {
		if next.Column(pc.Name) < 0 {
			out = append(out, Change{What: "column dropped", Column: pc.Name, From: string(pc.Type), Breaking: true,
				Why:       "the table keeps the column, and upserts of new rows would leave its old values in place as if they were current",
				Migration: fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s;", table, quoteIdent(pc.Name))})
		}
	}
	if !reflect.DeepEqual(prev.Format, next.Format) {
		out = append(out, Change{What: "format", From: string(prev.Format.Type), To: string(next.Format.Type),
			Why: "how rows are found in the payload; sluice replay re-applies it to staged data"})
	}
	if !slices.Equal(prev.Rules, next.Rules) {
		out = append(out, Change{What: "rules", From: fmt.Sprint(len(prev.Rules)), To: fmt.Sprint(len(next.Rules)),
			Why: "checked on rows transformed from now on"})
	}
	if prev.Description != next.Description {
		out = append(out, Change{What: "description"})
	}
	return out
}

// Compatible returns nil when next may replace prev without touching the table by hand, or
// an error wrapping ErrIncompatible that explains each breaking change and the migration
// that would be needed.
func Compatible(prev, next *Spec) error {
	var b strings.Builder
	for _, c := range Diff(prev, next) {
		if !c.Breaking {
			continue
		}
		fmt.Fprintf(&b, "\n  %s: %s\n    migration: %s", c, c.Why, c.Migration)
	}
	if b.Len() == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s version %d → %d:%s", ErrIncompatible, next.Key(), prev.Version, next.Version, b.String())
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func joinIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteIdent(n)
	}
	return strings.Join(q, ", ")
}
