package sqlcopy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Secrets, read from the environment (Deps.Getenv) and never from the config file or
// flags. Each may instead name a file holding the value (a mounted Kubernetes secret):
// SLUICE_SQLCOPY_SOURCE_URL_FILE, SLUICE_SQLCOPY_SOURCE_PASSWORD_FILE.
const (
	// EnvSourceURL is the source database URL, e.g. postgres://user@host:5432/db.
	EnvSourceURL = "SLUICE_SQLCOPY_SOURCE_URL"
	// EnvSourcePassword, when set, replaces the password of the URL.
	EnvSourcePassword = "SLUICE_SQLCOPY_SOURCE_PASSWORD"
)

// Modes of a table's runs.
const (
	// ModeAuto runs an incremental pass once a backfill has set its starting point, and a
	// backfill before that.
	ModeAuto        = "auto"
	ModeBackfill    = "backfill"
	ModeIncremental = "incremental"
)

// Dialects of the source.
const (
	DialectPostgres = "postgres"
	// DialectRedshift avoids what Redshift lacks: row-value comparisons and the session
	// settings bytea_output and extra_float_digits.
	DialectRedshift = "redshift"
)

// Config is the provider's configuration (--provider-config). It holds no secret.
type Config struct {
	// Tables are the tables copied from the source, one dataset each.
	Tables []Table `json:"tables"`
	// Dialect is postgres (default) or redshift.
	Dialect string `json:"dialect"`
	// Concurrency caps the queries sluice runs on the source at once, counted over every
	// replica of the provider (a lease in sluice-limits).
	Concurrency int `json:"concurrency"`
	// StatementTimeout is set on every source session, e.g. "10m"; empty keeps the
	// server's. A page killed by it is retried with half as many rows.
	StatementTimeout string `json:"statement_timeout"`
	// PageRetries is how many times a page query killed by the source (cancelled,
	// timed out, connection lost) is retried within a task before the task fails and is
	// redelivered (it then resumes from its checkpoint).
	PageRetries int  `json:"page_retries"`
	Page        Page `json:"page"`
}

// Page sizes the keyset pages: one page is one raw record.
type Page struct {
	// MemoryBytes bounds the NDJSON bytes of one page; 0 derives it from the container's
	// memory limit (MemoryFraction of /sys/fs/cgroup/memory.max, shared by InMemory pages).
	MemoryBytes int64 `json:"memory_bytes"`
	// MemoryFraction is the part of the memory limit all pages in memory may use.
	MemoryFraction float64 `json:"memory_fraction"`
	// InMemory is how many pages one replica holds at once (a local semaphore), whatever
	// --workers says.
	InMemory int `json:"in_memory"`
	// MaxRows caps the rows of a page.
	MaxRows int `json:"max_rows"`
	// ProbeRows is the size of each partition's first page, whose rows' widths size the
	// following pages.
	ProbeRows int `json:"probe_rows"`
}

// Table is one source table and its dataset.
type Table struct {
	// Dataset is the dataset name (the spec's dataset).
	Dataset string `json:"dataset"`
	// Source is the table, "schema.name" (schema defaults to public).
	Source string `json:"source"`
	// SpecFile is the dataset spec, as `sluice spec from-sql` writes it; or Spec holds it
	// inline (one config file to mount, e.g. rendered by the Helm chart).
	SpecFile string          `json:"spec_file,omitempty"`
	Spec     json.RawMessage `json:"spec,omitempty"`
	// Columns are the source columns selected (default: all).
	Columns []string `json:"columns,omitempty"`
	// Key is the unique, non-null key the copy is ordered and partitioned by (default:
	// the table's primary key).
	Key []string `json:"key,omitempty"`
	// Filter is a SQL condition pushed down into every query, e.g. "deleted_at IS NULL".
	Filter string `json:"filter,omitempty"`
	// Partitions splits a backfill (0: one per PartitionRows rows).
	Partitions    int    `json:"partitions,omitempty"`
	PartitionRows int64  `json:"partition_rows,omitempty"`
	MaxPartitions int    `json:"max_partitions,omitempty"`
	Mode          string `json:"mode,omitempty"`
	// Incremental, when set, makes runs after the backfill copy only what changed.
	Incremental *Incremental `json:"incremental,omitempty"`
	// VersionColumn is the column whose value is each page's data version (a timestamp,
	// date or integer; default Incremental.Column).
	VersionColumn string `json:"version_column,omitempty"`
}

// Incremental says how an incremental run finds new rows.
type Incremental struct {
	// Column is a timestamp or integer column set on every insert and update (e.g.
	// updated_at): rows after the last one copied, in (Column, key) order. Empty: by key
	// high-water mark (new keys only, for append-only tables).
	Column string `json:"column,omitempty"`
}

// DefaultConfig is what fields left out take.
func DefaultConfig() *Config {
	return &Config{
		Dialect: DialectPostgres, Concurrency: 4, PageRetries: 5,
		Page: Page{MemoryFraction: 0.25, InMemory: 8, MaxRows: 50_000, ProbeRows: 200},
	}
}

func (c *Config) statementTimeout() time.Duration {
	d, _ := time.ParseDuration(c.StatementTimeout) // validated
	return d
}

// Validate names the wrong field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("sqlcopy: "+format, args...)) }
	if len(c.Tables) == 0 {
		bad("tables: at least one table is required")
	}
	if c.Dialect != DialectPostgres && c.Dialect != DialectRedshift {
		bad("dialect %q: want postgres or redshift", c.Dialect)
	}
	if c.Concurrency < 1 {
		bad("concurrency %d: must be at least 1", c.Concurrency)
	}
	if c.StatementTimeout != "" {
		if d, err := time.ParseDuration(c.StatementTimeout); err != nil || d < time.Millisecond {
			bad("statement_timeout %q: want a duration like \"10m\"", c.StatementTimeout)
		}
	}
	if c.PageRetries < 0 {
		bad("page_retries %d: must not be negative", c.PageRetries)
	}
	p := c.Page
	if p.MemoryBytes != 0 && p.MemoryBytes < 64<<10 {
		bad("page.memory_bytes %d: want 0 (from the memory limit) or at least 64 KiB", p.MemoryBytes)
	}
	if p.MemoryFraction <= 0 || p.MemoryFraction > 0.9 {
		bad("page.memory_fraction %v: want (0, 0.9]", p.MemoryFraction)
	}
	if p.InMemory < 1 {
		bad("page.in_memory %d: must be at least 1", p.InMemory)
	}
	if p.MaxRows < 1 || p.ProbeRows < 1 {
		bad("page.max_rows %d and page.probe_rows %d: must be at least 1", p.MaxRows, p.ProbeRows)
	}
	seen := map[string]bool{}
	for i, t := range c.Tables {
		at := fmt.Sprintf("tables[%d]", i)
		switch {
		case t.Dataset == "":
			bad("%s: dataset is required", at)
		case seen[t.Dataset]:
			bad("%s: dataset %s configured twice", at, t.Dataset)
		}
		seen[t.Dataset] = true
		if _, _, err := splitSource(t.Source); err != nil {
			bad("%s: source: %v", at, err)
		}
		if (t.SpecFile == "") == (len(t.Spec) == 0) {
			bad("%s: one of spec_file and spec is required (write it with `sluice spec from-sql`)", at)
		}
		if t.Partitions < 0 || t.PartitionRows < 0 || t.MaxPartitions < 0 {
			bad("%s: partitions, partition_rows and max_partitions must not be negative", at)
		}
		switch t.Mode {
		case "", ModeAuto, ModeBackfill:
		case ModeIncremental:
			if t.Incremental == nil {
				bad("%s: mode incremental needs incremental", at)
			}
		default:
			bad("%s: mode %q: want auto, backfill or incremental", at, t.Mode)
		}
		if strings.Contains(t.Filter, ";") {
			bad("%s: filter must be one condition, without ';'", at)
		}
	}
	return errors.Join(errs...)
}

// partitionRows is the target size of an automatic partition.
func (t Table) partitionRows() int64 {
	if t.PartitionRows > 0 {
		return t.PartitionRows
	}
	return 1_000_000
}

func (t Table) maxPartitions() int {
	if t.MaxPartitions > 0 {
		return t.MaxPartitions
	}
	return 1024
}

func (t Table) mode() string {
	if t.Mode == "" {
		return ModeAuto
	}
	return t.Mode
}

// versionColumn is the column whose value orders versions of a row, or "".
func (t Table) versionColumn() string {
	if t.VersionColumn != "" {
		return t.VersionColumn
	}
	if t.Incremental != nil {
		return t.Incremental.Column
	}
	return ""
}

// splitSource splits "schema.name" (schema defaults to public).
func splitSource(s string) (schema, name string, err error) {
	schema, name, ok := strings.Cut(s, ".")
	if !ok {
		schema, name = "public", s
	}
	if schema == "" || name == "" || strings.Contains(name, ".") {
		return "", "", fmt.Errorf("%q: want schema.table", s)
	}
	return schema, name, nil
}

// secret reads name from the environment, or from the file named by name_FILE.
func secret(getenv func(string) string, name string) (string, error) {
	if v := getenv(name); v != "" {
		return v, nil
	}
	path := getenv(name + "_FILE")
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("sqlcopy: %s_FILE: %w", name, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
