package rowsource

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/sluice-dev/sluice/internal/spec"
)

// CSV reads delimiter-separated values. The header row (or Format.Fields) names the
// columns; every value is a string. A record with a quoting error or with another number
// of fields than the header is a *RowError and reading goes on. A record larger than the
// max row size is fatal: inside an unterminated quote there is no safe place to resume.
// Columns whose header is empty (a trailing delimiter) are left out of the row.
type CSV struct {
	cr      *csv.Reader
	budget  *budgetReader
	bom     int64
	format  spec.Format
	fields  []string
	row     map[string]any
	started bool
	index   int64
	last    []string // the record last returned or rejected (owned by cr)
	err     error
}

// NewCSV returns a CSV reader of r configured by f.
func NewCSV(r io.Reader, f spec.Format) *CSV {
	br := bufio.NewReaderSize(r, 32<<10)
	bom := stripBOM(br)
	budget := newBudgetReader(br, f.RowLimit())
	cr := csv.NewReader(budget)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.LazyQuotes = f.LazyQuotes
	if f.Delimiter != "" {
		cr.Comma, _ = utf8.DecodeRuneInString(f.Delimiter)
	}
	if f.Comment != "" {
		cr.Comment, _ = utf8.DecodeRuneInString(f.Comment)
	}
	return &CSV{cr: cr, budget: budget, bom: bom, format: f}
}

// Next implements Reader.
func (c *CSV) Next() (map[string]any, error) {
	if c.err != nil {
		return nil, c.err
	}
	if !c.started {
		c.started = true
		if err := c.readHeader(); err != nil {
			c.err = err
			return nil, err
		}
	}
	start := c.offset()
	c.budget.startRow(c.cr.InputOffset())
	c.last = nil
	rec, err := c.cr.Read()
	if err != nil {
		var perr *csv.ParseError
		if errors.As(err, &perr) && !errors.Is(err, ErrRowTooLarge) {
			index := c.index
			c.index++
			return nil, &RowError{Index: index, Line: int64(perr.StartLine), Offset: start,
				Err: fmt.Errorf("%w (line %d, column %d)", perr.Err, perr.Line, perr.Column)}
		}
		c.err = c.fatal(fmt.Sprintf("row %d", c.index), start, err)
		return nil, c.err
	}
	index := c.index
	c.index++
	c.last = rec
	if len(rec) != len(c.fields) {
		line, _ := c.cr.FieldPos(0)
		return nil, &RowError{Index: index, Line: int64(line), Offset: start,
			Err: fmt.Errorf("has %d fields, want %d as in the header", len(rec), len(c.fields))}
	}
	if c.row == nil {
		c.row = make(map[string]any, len(c.fields))
	}
	for i, name := range c.fields {
		if name != "" {
			c.row[name] = rec[i]
		}
	}
	return c.row, nil
}

// readHeader skips the preamble rows and sets the column names.
func (c *CSV) readHeader() error {
	for i := range c.format.SkipRows {
		start := c.offset()
		c.budget.startRow(c.cr.InputOffset())
		if _, err := c.cr.Read(); err != nil {
			var perr *csv.ParseError
			if errors.As(err, &perr) && !errors.Is(err, ErrRowTooLarge) {
				continue // a preamble need not be valid CSV
			}
			return c.fatal(fmt.Sprintf("skipped row %d", i), start, err)
		}
	}
	c.fields = c.format.Fields
	if !c.format.HasHeader() {
		return nil
	}
	start := c.offset()
	c.budget.startRow(c.cr.InputOffset())
	rec, err := c.cr.Read()
	if err != nil {
		return c.fatal("header", start, err)
	}
	if c.fields != nil {
		return nil // Format.Fields replaces the header's names
	}
	c.fields = make([]string, len(rec))
	seen := make(map[string]int, len(rec))
	for i, name := range rec {
		if j, dup := seen[name]; dup && name != "" {
			line, _ := c.cr.FieldPos(0)
			return fmt.Errorf("csv: header (line %d): column %s appears twice (fields %d and %d); name the columns with format.fields",
				line, spec.QuoteShort(name), j+1, i+1)
		}
		seen[name] = i
		c.fields[i] = name
	}
	return nil
}

func (c *CSV) offset() int64 { return c.bom + c.cr.InputOffset() }

func (c *CSV) fatal(what string, start int64, err error) error {
	switch {
	case errors.Is(err, ErrRowTooLarge):
		return fmt.Errorf("csv: %s (byte %d): %w: larger than %d bytes", what, start, ErrRowTooLarge, c.format.RowLimit())
	case errors.Is(err, io.EOF) && what == "header":
		return fmt.Errorf("csv: header (byte %d): payload is empty, want a header row", start)
	case errors.Is(err, io.EOF):
		return io.EOF
	}
	return fmt.Errorf("csv: %s (byte %d): %w", what, start, err)
}

// Raw implements Reader: the record re-encoded as one CSV line with the payload's
// delimiter; nil for a record with a quoting error.
func (c *CSV) Raw() []byte {
	if c.last == nil {
		return nil
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Comma = c.cr.Comma
	if err := w.Write(c.last); err != nil {
		return nil
	}
	w.Flush()
	return bytes.TrimRight(b.Bytes(), "\n")
}
