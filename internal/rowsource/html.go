package rowsource

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/sluice-dev/sluice/internal/spec"
)

// HTMLTable reads the rows of one <table> of an HTML document with a streaming tokenizer.
// The table is chosen by id or by position among all tables (nested ones included). A row
// is a <tr> with at least one cell; a cell is a <td> or <th>, whose text (entities decoded,
// whitespace collapsed, <br>, <p>, <div> and <li> as spaces, scripts and styles dropped) is
// the value. Text of tables nested in a cell belongs to that cell.
//
// A cell with colspan=n fills n columns: its text goes to the first, "" to the others, and
// in a header row the others have no name, so their values are left out of the rows.
// rowspan is ignored. Rows with another number of cells than the header, and rows larger
// than the max row size, are *RowErrors; reading goes on with the next row.
type HTMLTable struct {
	z      *html.Tokenizer
	format spec.Format
	maxRow int
	maxBuf int

	offset, line int64 // of the current token's start
	tables       int   // tables opened so far in the document
	depth        int   // open tables inside the target (1 = the target itself)
	done         bool  // the target table has ended
	skipText     int   // inside <script> or <style>

	inRow, inCell bool
	rowLine       int64
	rowOffset     int64
	cells         []string
	cellText      []byte
	space         bool // a space is pending before the next text of the cell
	span          int  // colspan of the open cell
	rowBytes      int
	rowTooLarge   bool
	last          []string // cells of the row last returned or rejected

	// The row that ended last, returned by nextRow; its cells are h.cells until the next
	// call of nextRow.
	readyLine, readyOffset int64
	readyTooLarge          bool
	returned               bool

	rowsSeen int // rows with cells seen in the target table, preamble and header included
	fields   []string
	row      map[string]any
	index    int64
	err      error
}

// maxColspan is the largest colspan honoured, as in the HTML standard.
const maxColspan = 1000

// NewHTMLTable returns an HTMLTable reader of r configured by f.
func NewHTMLTable(r io.Reader, f spec.Format) *HTMLTable {
	br := bufio.NewReaderSize(r, 32<<10)
	h := &HTMLTable{format: f, maxRow: f.RowLimit(), line: 1}
	h.offset = stripBOM(br)
	h.z = html.NewTokenizer(br)
	// One token (a text run, a script, a tag) may take this much; scripts and styles
	// elsewhere in the page can be larger than a row. The tokenizer's buffer grows by
	// doubling, so this costs up to about twice as much memory.
	h.maxBuf = max(2*f.RowLimit(), 4<<20)
	h.z.SetMaxBuf(h.maxBuf)
	if !f.HasHeader() {
		h.fields = f.Fields
	}
	return h
}

// Next implements Reader.
func (h *HTMLTable) Next() (map[string]any, error) {
	h.last = nil
	for h.err == nil {
		cells, line, offset, tooLarge, ok := h.nextRow()
		if !ok {
			break
		}
		h.rowsSeen++
		if h.rowsSeen <= h.format.SkipRows {
			continue
		}
		if h.fields == nil { // header row
			if tooLarge {
				h.err = fmt.Errorf("html table: header row (line %d, byte %d): %w: larger than %d bytes", line, offset, ErrRowTooLarge, h.maxRow)
				break
			}
			if err := h.setHeader(cells, line); err != nil {
				h.err = err
			}
			continue
		}
		index := h.index
		h.index++
		h.last = cells
		switch {
		case tooLarge:
			return nil, &RowError{Index: index, Line: line, Offset: offset, Err: fmt.Errorf("%w: larger than %d bytes", ErrRowTooLarge, h.maxRow)}
		case len(cells) != len(h.fields):
			return nil, &RowError{Index: index, Line: line, Offset: offset, Err: fmt.Errorf("has %d cells, want %d as in the header", len(cells), len(h.fields))}
		}
		if h.row == nil {
			h.row = make(map[string]any, len(h.fields))
		}
		for i, name := range h.fields {
			if name != "" {
				h.row[name] = cells[i]
			}
		}
		return h.row, nil
	}
	return nil, h.err
}

func (h *HTMLTable) setHeader(cells []string, line int64) error {
	if h.format.Fields != nil {
		h.fields = h.format.Fields
		return nil
	}
	fields := make([]string, len(cells))
	seen := make(map[string]int, len(cells))
	for i, name := range cells {
		if j, dup := seen[name]; dup && name != "" {
			return fmt.Errorf("html table: header (line %d): column %s appears twice (cells %d and %d); name the columns with format.fields",
				line, spec.QuoteShort(name), j+1, i+1)
		}
		seen[name] = i
		fields[i] = name
	}
	h.fields = fields
	return nil
}

// nextRow tokenizes up to the end of the next row of the target table that has cells. ok
// is false at the end of the table or on error (h.err is set).
func (h *HTMLTable) nextRow() (cells []string, line, offset int64, tooLarge, ok bool) {
	if h.returned {
		h.returned = false
		h.resetRow()
	}
	for !h.done {
		tt := h.z.Next()
		raw := h.z.Raw()
		tokOffset, tokLine := h.offset, h.line
		h.offset += int64(len(raw))
		h.line += int64(bytes.Count(raw, []byte{'\n'}))

		if tt == html.ErrorToken {
			err := h.z.Err()
			if errors.Is(err, html.ErrBufferExceeded) {
				h.err = fmt.Errorf("html table: line %d (byte %d): %w: one text run or tag is larger than %d bytes",
					tokLine, tokOffset, ErrRowTooLarge, h.maxBuf)
				return nil, 0, 0, false, false
			}
			if !errors.Is(err, io.EOF) {
				h.err = fmt.Errorf("html table: line %d (byte %d): %w", tokLine, tokOffset, err)
				return nil, 0, 0, false, false
			}
			h.done = true
			if h.depth == 0 {
				h.err = h.notFound()
				return nil, 0, 0, false, false
			}
			// The document ends inside the table: keep the last row.
			if h.endRow() {
				return h.ready()
			}
			break
		}
		if h.depth == 0 {
			if tt == html.StartTagToken && h.isTarget() {
				h.depth = 1
			}
			continue
		}
		switch tt {
		case html.TextToken:
			if h.inCell && h.skipText == 0 {
				h.addText(h.z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, hasAttr := h.z.TagName()
			a := atom.Lookup(name)
			if tt == html.EndTagToken {
				if h.endTag(a) {
					return h.ready()
				}
				continue
			}
			if h.startTag(a, hasAttr, tt == html.SelfClosingTagToken, tokLine, tokOffset) {
				return h.ready()
			}
		}
	}
	if h.err == nil {
		h.err = io.EOF
	}
	return nil, 0, 0, false, false
}

// isTarget counts the table that starts at the current token and reports whether it is the
// one to read.
func (h *HTMLTable) isTarget() bool {
	name, hasAttr := h.z.TagName()
	if atom.Lookup(name) != atom.Table {
		return false
	}
	index := h.tables
	h.tables++
	if h.format.TableID == "" {
		return index == h.format.TableIndex
	}
	for hasAttr {
		var key, val []byte
		key, val, hasAttr = h.z.TagAttr()
		if string(key) == "id" {
			return string(val) == h.format.TableID
		}
	}
	return false
}

func (h *HTMLTable) notFound() error {
	if h.format.TableID != "" {
		return fmt.Errorf("html table: no table with id %q in the document", h.format.TableID)
	}
	return fmt.Errorf("html table: table_index %d not found: the document has %d tables", h.format.TableIndex, h.tables)
}

// startTag handles a start tag inside the target table; it reports whether a row ended.
func (h *HTMLTable) startTag(a atom.Atom, hasAttr, selfClosing bool, line, offset int64) bool {
	switch a {
	case atom.Table:
		h.depth++
		h.space = true
	case atom.Tr:
		if h.depth > 1 {
			h.space = true
			return false
		}
		ended := h.endRow()
		h.inRow = true
		h.rowLine, h.rowOffset = line, offset
		return ended
	case atom.Td, atom.Th:
		if h.depth > 1 {
			h.space = true
			return false
		}
		if !h.inRow { // a cell without <tr>: the tokenizer does not build a tree, so imply one
			h.inRow = true
			h.rowLine, h.rowOffset = line, offset
		}
		h.endCell()
		h.inCell = true
		h.span = 1
		for hasAttr {
			var key, val []byte
			key, val, hasAttr = h.z.TagAttr()
			if string(key) == "colspan" {
				if n, err := strconv.Atoi(string(bytes.TrimSpace(val))); err == nil && n > 1 {
					h.span = min(n, maxColspan)
				}
			}
		}
	case atom.Script, atom.Style, atom.Template:
		if !selfClosing {
			h.skipText++
		}
	case atom.Br, atom.P, atom.Div, atom.Li, atom.Hr:
		h.space = true
	}
	return false
}

// endTag handles an end tag inside the target table; it reports whether a row ended.
func (h *HTMLTable) endTag(a atom.Atom) bool {
	switch a {
	case atom.Table:
		h.depth--
		h.space = true
		if h.depth == 0 {
			h.done = true
			return h.endRow()
		}
	case atom.Tr:
		if h.depth == 1 {
			return h.endRow()
		}
		h.space = true
	case atom.Td, atom.Th:
		if h.depth == 1 {
			h.endCell()
		} else {
			h.space = true
		}
	case atom.Script, atom.Style, atom.Template:
		if h.skipText > 0 {
			h.skipText--
		}
	case atom.P, atom.Div, atom.Li:
		h.space = true
	}
	return false
}

// addText appends text to the open cell, collapsing whitespace and counting the row's size.
func (h *HTMLTable) addText(text []byte) {
	if h.rowTooLarge {
		return
	}
	for len(text) > 0 {
		r, size := utf8.DecodeRune(text)
		if unicode.IsSpace(r) {
			h.space = true
		} else {
			if h.space && len(h.cellText) > 0 {
				h.cellText = append(h.cellText, ' ')
				h.rowBytes++
			}
			h.space = false
			h.cellText = append(h.cellText, text[:size]...)
			h.rowBytes += size
		}
		text = text[size:]
	}
	if h.rowBytes > h.maxRow {
		h.rowTooLarge = true
		h.cellText = h.cellText[:0]
	}
}

func (h *HTMLTable) endCell() {
	if !h.inCell {
		return
	}
	h.inCell = false
	if !h.rowTooLarge {
		h.cells = append(h.cells, string(h.cellText))
		for range h.span - 1 {
			h.cells = append(h.cells, "")
		}
		h.rowBytes += h.span // count cells, so that many empty cells are bounded too
		h.rowTooLarge = h.rowBytes > h.maxRow
	}
	h.cellText = h.cellText[:0]
	h.space = false
}

// endRow closes the open row, if any, and reports whether it is a row to return: it has
// cells or was too large. The returned cells stay valid until the next row starts.
func (h *HTMLTable) endRow() bool {
	if !h.inRow {
		return false
	}
	h.endCell()
	h.inRow = false
	ready := len(h.cells) > 0 || h.rowTooLarge
	if !ready {
		h.resetRow()
		return false
	}
	h.readyLine, h.readyOffset, h.readyTooLarge = h.rowLine, h.rowOffset, h.rowTooLarge
	return true
}

func (h *HTMLTable) ready() ([]string, int64, int64, bool, bool) {
	h.returned = true
	return h.cells, h.readyLine, h.readyOffset, h.readyTooLarge, true
}

func (h *HTMLTable) resetRow() {
	h.cells = h.cells[:0]
	h.rowBytes = 0
	h.rowTooLarge = false
}

// Raw implements Reader: the row's cells as a JSON object by header (a JSON array when
// the cells do not match the header).
func (h *HTMLTable) Raw() []byte {
	if h.last == nil {
		return nil
	}
	var v any = h.last
	if len(h.last) == len(h.fields) {
		obj := make(map[string]string, len(h.fields))
		for i, name := range h.fields {
			if name != "" {
				obj[name] = h.last[i]
			}
		}
		v = obj
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
