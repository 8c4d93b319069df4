package rowsource

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/sluice-dev/sluice/internal/spec"
)

// JSONArray reads the objects of a JSON array, at the top level or at a path of keys
// inside a top-level object, one element at a time. Numbers are json.Number, so large ids
// stay exact. An element that is not an object is a *RowError; a syntax error is fatal,
// since a JSON array cannot be resynchronised.
//
// The syntax is checked by a jsontext.Decoder (the tokenizer of the coming encoding/json
// v2), which hands over each element's bytes checked; a valueBuilder makes the row of
// them. As with encoding/json, a repeated member name keeps its last value, and invalid
// UTF-8 is left to the UTF-8 guard, which rejects the row.
type JSONArray struct {
	guard   *utf8Guard
	budget  *budgetReader
	dec     *jsontext.Decoder
	build   *valueBuilder
	bom     int64
	path    []string
	maxRow  int
	started bool
	index   int64
	last    any   // the element last returned or rejected
	err     error // sticky fatal error or io.EOF
}

// NewJSONArray returns a JSONArray reader of r with f's path and max row size.
func NewJSONArray(r io.Reader, f spec.Format) *JSONArray {
	br := bufio.NewReaderSize(r, 32<<10)
	bom := stripBOM(br)
	guard := newUTF8Guard(br)
	budget := newBudgetReader(guard, f.RowLimit())
	dec := jsontext.NewDecoder(budget, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	var path []string
	if f.Path != "" {
		path = strings.Split(f.Path, ".")
	}
	return &JSONArray{guard: guard, budget: budget, dec: dec, build: newValueBuilder(), bom: bom, path: path, maxRow: f.RowLimit()}
}

// KeepRaw implements RawKeeper.
func (j *JSONArray) KeepRaw(fields []string) { j.build.keepRaw(fields) }

// Next implements Reader.
func (j *JSONArray) Next() (map[string]any, error) {
	if j.err != nil {
		return nil, j.err
	}
	if !j.started {
		j.started = true
		if err := j.findArray(); err != nil {
			j.err = err
			return nil, err
		}
	}
	start := j.offset()
	j.budget.startRow(j.dec.InputOffset())
	if j.dec.PeekKind() == ']' {
		if _, err := j.dec.ReadToken(); err != nil {
			j.err = j.fatal(fmt.Sprintf("after row %d", j.index-1), start, err)
			return nil, j.err
		}
		if err := j.end(); err != nil {
			j.err = err
			return nil, err
		}
		j.err = io.EOF
		return nil, io.EOF
	}
	j.last = nil
	raw, err := j.dec.ReadValue()
	if err != nil {
		j.err = j.fatal(fmt.Sprintf("row %d", j.index), start, err)
		return nil, j.err
	}
	v := j.build.row(raw)
	index := j.index
	j.index++
	j.last = v
	if at := j.guard.claim(start-j.bom, j.dec.InputOffset()); at >= 0 {
		return nil, &RowError{Index: index, Offset: start, Err: fmt.Errorf("invalid UTF-8 at byte %d", j.bom+at)}
	}
	row, ok := v.(map[string]any)
	if !ok {
		return nil, &RowError{Index: index, Offset: start, Err: fmt.Errorf("element is %s, want an object", jsonKind(v))}
	}
	return row, nil
}

// end checks that only whitespace follows a top-level array: data after it (a second
// document glued on, a trailer) would otherwise be dropped without a word. After an array
// at a path, the rest of the enclosing object is not rows and is not read.
func (j *JSONArray) end() error {
	if len(j.path) > 0 {
		return nil
	}
	start := j.offset()
	j.budget.startRow(j.dec.InputOffset())
	tok, err := j.dec.ReadToken()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		err = fmt.Errorf("%s follows the array; want nothing but whitespace", tokenKind(tok))
	}
	return j.fatal("after the array", start, err)
}

func (j *JSONArray) offset() int64 { return j.bom + j.dec.InputOffset() }

// fatal builds the error that ends the payload, naming where it happened.
func (j *JSONArray) fatal(what string, start int64, err error) error {
	var syn *jsontext.SyntacticError
	switch {
	case errors.Is(err, ErrRowTooLarge):
		return fmt.Errorf("json array: %s (byte %d): %w: larger than %d bytes", what, start, ErrRowTooLarge, j.maxRow)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("json array: %s (byte %d): payload ends before the array is closed: %w", what, start, io.ErrUnexpectedEOF)
	case errors.As(err, &syn):
		return fmt.Errorf("json array: %s: byte %d: %w", what, j.bom+syn.ByteOffset, syntaxError{syn})
	}
	return fmt.Errorf("json array: %s (byte %d): %w", what, start, err)
}

// syntaxError is a jsontext error told without the position (the caller names it, counting
// a byte order mark) and without the package prefix.
type syntaxError struct{ *jsontext.SyntacticError }

func (e syntaxError) Error() string {
	return strings.TrimPrefix(e.Err.Error(), "jsontext: ")
}

func (e syntaxError) Unwrap() error { return e.SyntacticError }

// findArray consumes tokens up to and including the '[' of the array at the path. A null
// at the path is an empty array.
func (j *JSONArray) findArray() error {
	for depth, key := range j.path {
		where := "top level"
		if depth > 0 {
			where = fmt.Sprintf("%q", strings.Join(j.path[:depth], "."))
		}
		tok, err := j.token()
		if err != nil {
			return j.pathErr(err)
		}
		if tok.Kind() != '{' {
			return fmt.Errorf("json array: path %q: %s is %s, want an object", strings.Join(j.path, "."), where, tokenKind(tok))
		}
		if err := j.findKey(key); err != nil {
			return err
		}
	}
	tok, err := j.token()
	if err != nil {
		return j.pathErr(err)
	}
	switch tok.Kind() {
	case '[':
		return nil
	case 'n':
		return io.EOF
	}
	what := "the payload"
	if len(j.path) > 0 {
		what = fmt.Sprintf("the value at path %q", strings.Join(j.path, "."))
	}
	return fmt.Errorf("json array: %s is %s, want an array", what, tokenKind(tok))
}

// findKey consumes the members of the current object up to and including key.
func (j *JSONArray) findKey(key string) error {
	for {
		tok, err := j.token()
		if err != nil {
			return j.pathErr(err)
		}
		if tok.Kind() == '}' {
			return fmt.Errorf("json array: path %q: key %q not found", strings.Join(j.path, "."), key)
		}
		if tok.String() == key {
			return nil
		}
		if err := j.skipValue(); err != nil {
			return j.pathErr(err)
		}
	}
}

// skipValue consumes one value token by token, so a large sibling of the array costs no
// more memory than its largest token.
func (j *JSONArray) skipValue() error {
	depth := 0
	for {
		tok, err := j.token()
		if err != nil {
			return err
		}
		switch tok.Kind() {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

func (j *JSONArray) token() (jsontext.Token, error) {
	j.budget.startRow(j.dec.InputOffset())
	return j.dec.ReadToken()
}

func (j *JSONArray) pathErr(err error) error {
	return j.fatal("finding the array", j.offset(), err)
}

func tokenKind(tok jsontext.Token) string {
	switch tok.Kind() {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	}
	return "null"
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// Raw implements Reader. The element is re-encoded (keys sorted, numbers exact), which costs
// nothing on the rows that are not asked for.
func (j *JSONArray) Raw() []byte {
	if j.last == nil {
		return nil
	}
	b, err := json.Marshal(j.last)
	if err != nil {
		return nil
	}
	return b
}
