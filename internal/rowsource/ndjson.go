package rowsource

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/sluice-dev/sluice/internal/spec"
)

// NDJSON reads one JSON object per line. Blank lines are skipped. A line that is not a JSON
// object, or is longer than the max row size, is a *RowError and reading goes on with the
// next line; an oversized line is discarded as it streams by, never buffered whole.
type NDJSON struct {
	br     *bufio.Reader
	maxRow int
	line   []byte // reused line buffer, at most maxRow bytes
	offset int64  // bytes consumed
	lineNo int64  // lines consumed
	index  int64
	raw    []byte // the last line returned or rejected
	build  *valueBuilder
	err    error
}

// NewNDJSON returns an NDJSON reader of r with f's max row size.
func NewNDJSON(r io.Reader, f spec.Format) *NDJSON {
	br := bufio.NewReaderSize(r, 64<<10)
	n := &NDJSON{br: br, maxRow: f.RowLimit(), build: newValueBuilder()}
	n.offset = stripBOM(br)
	return n
}

// KeepRaw implements RawKeeper.
func (n *NDJSON) KeepRaw(fields []string) { n.build.keepRaw(fields) }

// Next implements Reader.
func (n *NDJSON) Next() (map[string]any, error) {
	for n.err == nil {
		start, lineNo := n.offset, n.lineNo+1
		line, tooLong, err := n.readLine()
		if err != nil && !errors.Is(err, io.EOF) {
			n.err = fmt.Errorf("ndjson: line %d (byte %d): %w", lineNo, start, err)
			return nil, n.err
		}
		if errors.Is(err, io.EOF) {
			n.err = io.EOF
			if len(line) == 0 && !tooLong {
				break
			}
		}
		if !tooLong && len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		index := n.index
		n.index++
		n.raw = nil
		if tooLong {
			return nil, &RowError{Index: index, Line: lineNo, Offset: start, Err: fmt.Errorf("%w: line longer than %d bytes", ErrRowTooLarge, n.maxRow)}
		}
		n.raw = line
		row, err := n.decodeObject(line)
		if err != nil {
			return nil, &RowError{Index: index, Line: lineNo, Offset: start, Err: err}
		}
		return row, nil
	}
	return nil, n.err
}

// readLine returns the next line without its line break. A line longer than maxRow is
// consumed to its end but not kept, and reported as tooLong.
func (n *NDJSON) readLine() (line []byte, tooLong bool, err error) {
	n.line = n.line[:0]
	for {
		chunk, err := n.br.ReadSlice('\n')
		n.offset += int64(len(chunk))
		if !tooLong {
			if len(n.line)+len(chunk) > n.maxRow+2 { // +2 for "\r\n"
				tooLong = true
				n.line = n.line[:0]
			} else {
				n.line = append(n.line, chunk...)
			}
		}
		switch {
		case err == nil:
			n.lineNo++
			return bytes.TrimRight(n.line, "\r\n"), tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return bytes.TrimRight(n.line, "\r\n"), tooLong, err
		}
	}
}

// decodeObject decodes one JSON object with exact numbers and nothing after it.
func (n *NDJSON) decodeObject(data []byte) (map[string]any, error) {
	// A valid line (jsontext checks UTF-8 too) is built in one pass; anything else is
	// looked at again for an account of what is wrong and where.
	if v := jsontext.Value(data); isObject(v) && v.IsValid(jsontext.AllowDuplicateNames(true)) {
		return n.build.row(v).(map[string]any), nil
	}
	// encoding/json would replace invalid UTF-8 in strings with U+FFFD: the row would be
	// loaded altered.
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("invalid UTF-8 at byte %d of the line", invalidUTF8At(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("invalid JSON: data after the object at byte %d", dec.InputOffset())
	}
	row, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("line is %s, want an object", jsonKind(v))
	}
	return row, nil
}

// Raw implements Reader: the line as it is in the payload (nil for a line too long to keep).
func (n *NDJSON) Raw() []byte { return n.raw }

// invalidUTF8At returns the offset of the first invalid UTF-8 sequence of data, or -1.
func invalidUTF8At(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}
