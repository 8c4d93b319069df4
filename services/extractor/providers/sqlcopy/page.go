package sqlcopy

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

// page is one keyset page being written: rows stream from the source's text values into
// a zstd NDJSON buffer, so the page is held once, compressed, and never as Go values.
type page struct {
	names [][]byte // `"name":` of each column, pre-encoded
	kinds []kind
	// version is the index of the version column (-1: none) and its kind.
	version     int
	versionKind kind

	buf  bytes.Buffer
	zw   *zstd.Encoder
	line []byte
	// Rows and Bytes count rows and uncompressed NDJSON bytes; MaxVersion is the greatest
	// data version seen (0: none).
	Rows       int
	Bytes      int64
	MaxVersion int64
}

func newPage(cols []Column, version string) *page {
	p := &page{version: -1}
	for i, c := range cols {
		name := appendJSONString(nil, []byte(c.Name))
		p.names = append(p.names, append(name, ':'))
		p.kinds = append(p.kinds, c.kind())
		if c.Name == version {
			p.version, p.versionKind = i, c.kind()
		}
	}
	// zstd at its fastest level: the page is compressed to bound memory and bytes on the
	// bus, not to save the last percent. It compresses NDJSON as well as gzip's best
	// speed at several times its speed, and the transformer decompresses it several
	// times faster too; one goroutine, so the page costs one core at most. A 1 MiB window
	// keeps an encoder at about gzip's memory (1.5 MiB; the default window takes 4.5).
	p.zw, _ = zstd.NewWriter(&p.buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20))
	return p
}

// reset empties the page for the next one, keeping its buffers.
func (p *page) reset() {
	p.buf.Reset()
	p.zw.Reset(&p.buf)
	p.Rows, p.Bytes, p.MaxVersion = 0, 0, 0
}

// add writes one row of text values (nil is NULL) as a JSON object line.
func (p *page) add(vals [][]byte) error {
	if len(vals) != len(p.kinds) {
		return fmt.Errorf("row has %d values for %d columns", len(vals), len(p.kinds))
	}
	l := append(p.line[:0], '{')
	for i, v := range vals {
		if i > 0 {
			l = append(l, ',')
		}
		l = append(l, p.names[i]...)
		l = appendValue(l, p.kinds[i], v)
	}
	l = append(l, '}', '\n')
	p.line = l
	if i := p.version; i >= 0 && vals[i] != nil {
		v, err := versionOf(p.versionKind, vals[i])
		if err != nil {
			return err
		}
		p.MaxVersion = max(p.MaxVersion, v)
	}
	p.Rows++
	p.Bytes += int64(len(l))
	_, err := p.zw.Write(l)
	return err
}

// finish closes the zstd stream and returns the page's bytes (valid until reset).
func (p *page) finish() ([]byte, error) {
	if err := p.zw.Close(); err != nil {
		return nil, err
	}
	return p.buf.Bytes(), nil
}

// appendValue appends the JSON of one text value of kind k. Every conversion keeps the
// value exactly; what JSON cannot hold as a number (NaN, infinities) goes as a string,
// which the column's type then accepts (double) or rejects as a row error (numeric).
func appendValue(b []byte, k kind, v []byte) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	switch k {
	case kindInt:
		return append(b, v...)
	case kindFloat, kindNumeric:
		if isJSONNumber(v) {
			return append(b, v...)
		}
		return appendJSONString(b, v)
	case kindBool:
		if len(v) == 1 && v[0] == 't' {
			return append(b, "true"...)
		}
		if len(v) == 1 && v[0] == 'f' {
			return append(b, "false"...)
		}
		return appendJSONString(b, v)
	case kindJSON:
		return append(b, v...)
	case kindTimestamp, kindTimestampTZ:
		return appendJSONString(b, isoTimestamp(v))
	}
	return appendJSONString(b, v)
}

// isoTimestamp turns PostgreSQL's ISO output in UTC, "2006-01-02 15:04:05.999999+00",
// into RFC 3339 ("2006-01-02T15:04:05.999999Z"; without zone for a timestamp without
// time zone). Anything else (BC dates, infinity) is left as it is and fails to load as a
// row error, never silently.
func isoTimestamp(v []byte) []byte {
	if len(v) < 19 || v[10] != ' ' {
		return v
	}
	out := make([]byte, 0, len(v)+1)
	out = append(out, v[:10]...)
	out = append(out, 'T')
	rest := v[11:]
	if bytes.HasSuffix(rest, []byte("+00")) {
		out = append(out, rest[:len(rest)-3]...)
		return append(out, 'Z')
	}
	return append(out, rest...)
}

// isJSONNumber reports whether a number as the source printed it is a JSON number. The
// output of PostgreSQL and Redshift is canonical (no '+', no leading zeros, digits on both
// sides of a '.'): the only texts that are not JSON numbers are NaN and the infinities,
// which start with a letter.
func isJSONNumber(v []byte) bool {
	if len(v) > 1 && v[0] == '-' {
		v = v[1:]
	}
	return len(v) > 0 && v[0] >= '0' && v[0] <= '9'
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 (possible only from a
// source whose encoding is not UTF-8) becomes U+FFFD, as encoding/json does.
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// errVersion is wrapped when a version column holds what cannot order versions.
var errVersion = errors.New("version column value")

// versionOf reads a data version from a version column's text: a timestamp or date as
// unix nanoseconds (UTC), an integer as itself.
func versionOf(k kind, v []byte) (int64, error) {
	switch k {
	case kindInt:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w %q: %v", errVersion, v, err)
		}
		return n, nil
	case kindDate, kindTimestamp, kindTimestampTZ:
		s := string(isoTimestamp(v))
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", time.DateOnly} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UnixNano(), nil
			}
		}
		return 0, fmt.Errorf("%w %q: not a timestamp in ISO form", errVersion, v)
	}
	return 0, fmt.Errorf("%w: a column of this type cannot be a version (want a timestamp, date or integer)", errVersion)
}
