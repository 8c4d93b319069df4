// Package rowsource reads source rows out of raw payloads — JSON arrays, NDJSON, CSV and
// HTML tables — as a stream. Memory stays bounded whatever the payload size: a Reader holds
// at most one row (bounded by the format's max row size) plus fixed-size buffers.
package rowsource

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/sluice-dev/sluice/internal/spec"
)

// Reader yields the rows of one payload.
//
// Next returns the next row as a map from source column (JSON key, CSV header, table
// header) to value, or io.EOF after the last row. JSON values are nil, bool, string,
// json.Number, map[string]any and []any; CSV and HTML values are strings.
//
// A *RowError means that one row is unusable but the reader has resynchronised: call Next
// again for the following row. Any other error is fatal for the payload (corrupt JSON,
// I/O error, a row too large to skip safely) and further calls return it again.
//
// A fatal error caused by the payload's bytes is a *DataError (see IsDataError) when the
// Reader comes from Open; a failure of the input reader is returned as it is.
//
// Raw returns the row Next last returned or rejected as source bytes, for a dead letter:
// the line itself for NDJSON, the record re-encoded as CSV, the element re-encoded as
// JSON for a JSON array and a JSON object of the cells for an HTML table; nil when the
// row could not be read at all.
//
// The map and the bytes belong to the Reader and are valid until the next call of Next.
// Readers are not safe for concurrent use.
type Reader interface {
	Next() (map[string]any, error)
	Raw() []byte
}

// ErrRowTooLarge is wrapped by the errors about a row larger than the format's max row
// size.
var ErrRowTooLarge = errors.New("row too large")

// RowError is an unusable row that the reader skipped. Index counts every row of the
// payload, usable or not, from 0 (header and skipped rows excluded), so it matches the
// index of the rows returned around it.
type RowError struct {
	Index int64
	// Line is the 1-based line where the row starts, or 0 when not tracked.
	Line int64
	// Offset is the byte offset where the row starts in the payload.
	Offset int64
	Err    error
}

func (e *RowError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("row %d (line %d, byte %d): %v", e.Index, e.Line, e.Offset, e.Err)
	}
	return fmt.Sprintf("row %d (byte %d): %v", e.Index, e.Offset, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// Open returns the Reader of format f over r. It does no I/O: problems with the payload
// show up in Next, where the errors caused by the payload's content are *DataError.
func Open(f spec.Format, r io.Reader) (Reader, error) {
	in := &inputReader{r: r}
	var src Reader
	switch f.Type {
	case spec.JSONArray:
		src = NewJSONArray(in, f)
	case spec.NDJSON:
		src = NewNDJSON(in, f)
	case spec.CSV:
		src = NewCSV(in, f)
	case spec.HTMLTable:
		src = NewHTMLTable(in, f)
	default:
		return nil, fmt.Errorf("open row source: unknown format %q", f.Type)
	}
	if f.Unnest != "" {
		src = newUnnest(src, f.Unnest)
	}
	return &classified{Reader: src, in: in}, nil
}

// stripBOM skips a leading UTF-8 byte order mark, which spreadsheet exports and some
// Windows tools write, and reports how many bytes it skipped.
func stripBOM(br *bufio.Reader) int64 {
	bom := []byte{0xEF, 0xBB, 0xBF}
	if b, err := br.Peek(len(bom)); err == nil && bytes.Equal(b, bom) {
		n, _ := br.Discard(len(bom))
		return int64(n)
	}
	return 0
}

// budgetReader refuses to read further than limit bytes, so that a decoder that buffers a
// whole value (encoding/json, encoding/csv) cannot buffer more than one row's budget.
type budgetReader struct {
	r     io.Reader
	read  int64 // bytes handed out so far
	limit int64
	max   int64
}

// budgetSlack lets a row use a little more than its budget for the separators and
// whitespace around it. Read-ahead needs no slack: reads never pass the previous limit,
// and a new row's limit is never lower, so what is already buffered stays within budget.
const budgetSlack = 1024

func newBudgetReader(r io.Reader, maxRow int) *budgetReader {
	b := &budgetReader{r: r, max: int64(maxRow) + budgetSlack}
	b.limit = b.max
	return b
}

// startRow grants a new budget from offset, the position the decoder has consumed up to.
func (b *budgetReader) startRow(offset int64) { b.limit = offset + b.max }

func (b *budgetReader) Read(p []byte) (int, error) {
	room := b.limit - b.read
	if room <= 0 {
		return 0, ErrRowTooLarge
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}
