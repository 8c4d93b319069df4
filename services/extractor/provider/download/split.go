package download

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// splitter reads the elements of a top-level JSON array one by one, as raw bytes.
type splitter struct {
	br     *bufio.Reader
	maxRow int
	row    []byte
	rows   int
	done   bool
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the next byte that is not whitespace.
func (s *splitter) skipSpace() (byte, error) {
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			return 0, err
		}
		if !isSpace(c) {
			return c, nil
		}
	}
}

func (s *splitter) malformed(format string, args ...any) error {
	return fmt.Errorf("%w: row %d: %s", ErrMalformed, s.rows, fmt.Sprintf(format, args...))
}

// eof turns the end of input inside the array into an error.
func (s *splitter) eof(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: row %d: input ends inside the array: %w", ErrMalformed, s.rows, io.ErrUnexpectedEOF)
	}
	return err
}

// open consumes the opening bracket (after an optional UTF-8 byte order mark).
func (s *splitter) open() error {
	if b, err := s.br.Peek(3); err == nil && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		_, _ = s.br.Discard(3)
	}
	c, err := s.skipSpace()
	if errors.Is(err, io.EOF) {
		return s.malformed("empty input, want a JSON array")
	}
	if err != nil {
		return err
	}
	if c != '[' {
		return s.malformed("want '[', got %q", c)
	}
	c, err = s.skipSpace()
	if err != nil {
		return s.eof(err)
	}
	if c == ']' {
		s.done = true
		return s.end()
	}
	return s.br.UnreadByte()
}

// end checks that nothing but whitespace follows the array.
func (s *splitter) end() error {
	c, err := s.skipSpace()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.malformed("unexpected %q after the array", c)
}

// next returns the next element (valid until the following call), or io.EOF after the
// closing bracket.
func (s *splitter) next() ([]byte, error) {
	if s.done {
		return nil, io.EOF
	}
	s.row = s.row[:0]
	c, err := s.skipSpace()
	if err != nil {
		return nil, s.eof(err)
	}
	if err := s.value(c); err != nil {
		return nil, err
	}
	if !json.Valid(s.row) {
		return nil, s.malformed("invalid JSON value")
	}
	s.rows++
	c, err = s.skipSpace()
	if err != nil {
		return nil, s.eof(err)
	}
	switch c {
	case ',':
	case ']':
		s.done = true
		if err := s.end(); err != nil {
			return nil, err
		}
	default:
		return nil, s.malformed("want ',' or ']' after a row, got %q", c)
	}
	return s.row, nil
}

func (s *splitter) add(c byte) error {
	if len(s.row) >= s.maxRow {
		return s.malformed("row exceeds %d bytes", s.maxRow)
	}
	s.row = append(s.row, c)
	return nil
}

// value reads one JSON value that starts with c into s.row.
func (s *splitter) value(c byte) error {
	if err := s.add(c); err != nil {
		return err
	}
	switch c {
	case '{', '[':
		depth := 1
		for depth > 0 {
			c, err := s.br.ReadByte()
			if err != nil {
				return s.eof(err)
			}
			if err := s.add(c); err != nil {
				return err
			}
			switch c {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			case '"':
				if err := s.str(); err != nil {
					return err
				}
			}
		}
		return nil
	case '"':
		return s.str()
	case ']', ',', '}', ':':
		return s.malformed("unexpected %q", c)
	}
	// A scalar: up to the next delimiter, which is left for the caller.
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			return s.eof(err)
		}
		if isSpace(c) || c == ',' || c == ']' {
			return s.br.UnreadByte()
		}
		if err := s.add(c); err != nil {
			return err
		}
	}
}

// str reads the rest of a string whose opening quote is already in s.row.
func (s *splitter) str() error {
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			return s.eof(err)
		}
		if err := s.add(c); err != nil {
			return err
		}
		switch c {
		case '"':
			return nil
		case '\\':
			c, err := s.br.ReadByte()
			if err != nil {
				return s.eof(err)
			}
			if err := s.add(c); err != nil {
				return err
			}
		}
	}
}
