// Package spec defines dataset specs: how the rows of one provider dataset are found in a raw
// payload, how each column is computed from a source row (CEL expressions), which rules a
// computed row must satisfy, and which Postgres table receives it.
//
// Specs are JSON documents stored in the JetStream key-value bucket [Bucket] under
// [Key](provider, dataset). Parse decodes and validates one; Compile (or a [Cache]) turns a
// valid spec into a [Program] whose expressions are type-checked and ready to evaluate.
package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Bucket is the JetStream key-value bucket that holds dataset specs.
const Bucket = "sluice-specs"

// Key returns the key of a dataset spec in [Bucket]: "<provider>.<dataset>".
func Key(provider, dataset string) string { return provider + "." + dataset }

// Spec describes one dataset of one provider. The zero value is not valid; build one with
// Parse or fill it in code and call Validate.
type Spec struct {
	// Schema is the JSON Schema the file declares for editors ("$schema"); it is not part
	// of the spec's content.
	Schema   string `json:"$schema,omitempty"`
	Provider string `json:"provider"`
	Dataset  string `json:"dataset"`
	// Version increases whenever anything in the spec changes; compiled programs are cached
	// by (provider, dataset, version) and rows carry it as RowBatch.spec_version.
	Version int64 `json:"version"`
	// Table is the Postgres table the rows are loaded into (lowercase snake case).
	Table       string `json:"table"`
	Description string `json:"description,omitempty"`
	// Format says how rows are found in the payload.
	Format Format `json:"format"`
	// Columns are the table's columns in order; every row has one value per column.
	Columns []Column `json:"columns"`
	// PrimaryKey names the columns the loader upserts on; none of them may be nullable.
	PrimaryKey []string `json:"primary_key"`
	// Rules are checked on every computed row; a row that breaks one is rejected.
	Rules []Rule `json:"rules,omitempty"`
}

// Column is one column of the target table and the CEL expression that computes it.
type Column struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
	// Expr is a CEL expression over `row` (the source row, map(string, dyn)) and `record`
	// (provider, dataset, source_key, run_id, extracted_at, attributes). Its result is
	// converted to Type (see the transform package for the conversions).
	Expr string `json:"expr"`
	// Nullable allows null values; a null in a non-nullable column rejects the row.
	Nullable    bool   `json:"nullable,omitempty"`
	Description string `json:"description,omitempty"`
}

// Rule is a validation rule: a CEL boolean expression over `row`, `record` and `out` (the
// computed columns by name). A row for which Expr is false is rejected with Message.
type Rule struct {
	// Name identifies the rule in row errors; defaults to "rules[i]".
	Name    string `json:"name,omitempty"`
	Expr    string `json:"expr"`
	Message string `json:"message"`
}

// Parse decodes a JSON spec, rejecting unknown fields, and validates it (see Validate).
func Parse(data []byte) (*Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse spec: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("parse spec: unexpected data after the spec object")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Key returns the spec's key in [Bucket].
func (s *Spec) Key() string { return Key(s.Provider, s.Dataset) }

// ColumnNames returns the column names in order, as carried in RowBatch.columns.
func (s *Spec) ColumnNames() []string {
	names := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		names[i] = c.Name
	}
	return names
}

// Column returns the index of the named column, or -1.
func (s *Spec) Column(name string) int {
	for i, c := range s.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Fingerprint returns a hash of the spec's content, used to detect a spec whose content
// changed without a version bump.
func (s *Spec) Fingerprint() string {
	// A Spec holds only strings, numbers, bools and slices of them: Marshal cannot fail.
	c := *s
	c.Schema = ""
	b, _ := json.Marshal(&c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
