package transform

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-dev/sluice/internal/spec"
)

// Convert converts a value computed by a column expression to the column type, the way Run
// does. The result is nil (null), string (text, and numeric as exact decimal text), int64
// (bigint, integer), float64 (double), bool (boolean), time.Time in UTC (timestamptz, and
// date at 00:00), json.RawMessage (jsonb) or []byte (bytea).
//
// The rules, by type:
//   - every type: nil is null; for every type but text and jsonb, a string that is empty or
//     only spaces is null too (CSV and HTML cells), and other strings are trimmed.
//   - text: strings as they are; numbers in their shortest exact form; booleans as
//     true/false; timestamps in RFC 3339. Objects and lists are refused (use jsonb). Text
//     must be valid UTF-8 without NUL bytes, which Postgres refuses.
//   - bigint, integer: integers; doubles and decimal texts with an integral value; range
//     checked (integer is 32-bit).
//   - double: any number or numeric text (NaN and ±Inf included).
//   - numeric: JSON numbers and numeric texts keep their exact text ("14.50" stays
//     "14.50"); doubles become their shortest exact decimal; no NaN or infinities.
//   - boolean: booleans; 0 and 1; true/false, t/f, yes/no, y/n, 1/0 in any case.
//   - date: timestamps (their UTC date); texts per spec.ParseDate.
//   - timestamptz: timestamps; texts per spec.ParseTimestamp (without a zone: UTC).
//   - jsonb: any value, encoded as JSON (a string becomes a JSON string; use parse_json in
//     the expression to load JSON text). Documents holding \u0000 are refused, as Postgres
//     does.
//   - bytea: CEL bytes as they are; a text starting with \x is hex (PostgreSQL's own text
//     form, so "\x" is an empty value, not null); any other text is standard base64.
func Convert(t spec.Type, v any) (any, error) {
	var c converter
	cl, err := c.convert(t, v)
	if err != nil || cl.null {
		return nil, err
	}
	switch t {
	case spec.Text, spec.Numeric:
		return cl.s, nil
	case spec.JSONB:
		return json.RawMessage(cl.s), nil
	case spec.Bytea:
		return []byte(cl.s), nil
	case spec.BigInt, spec.Integer:
		return cl.i, nil
	case spec.Double:
		return cl.f, nil
	case spec.Boolean:
		return cl.i != 0, nil
	case spec.Date, spec.TimestampTZ:
		return cl.t, nil
	}
	return nil, fmt.Errorf("unknown column type %q", t)
}

// cell is a converted value without boxing: which field holds it depends on the type.
type cell struct {
	null bool
	i    int64 // bigint, integer; boolean as 0 or 1
	f    float64
	s    string // text, numeric, jsonb, bytea
	t    time.Time
}

// converter converts values; it keeps a buffer for JSON encoding, so one per goroutine.
type converter struct {
	buf  bytes.Buffer
	enc  *json.Encoder
	text []byte // appendJSON's buffer
}

func (c *converter) convert(t spec.Type, v any) (cell, error) {
	if v == nil {
		return cell{null: true}, nil
	}
	if s, ok := v.(string); ok && t != spec.Text && t != spec.JSONB {
		trimmed := strings.TrimSpace(s)
		if trimmed == "" {
			return cell{null: true}, nil
		}
		if len(trimmed) != len(s) { // re-boxing allocates: only when needed
			v = trimmed
		}
	}
	switch t {
	case spec.Text:
		return toText(v)
	case spec.BigInt:
		return toInt(v, t, math.MinInt64, math.MaxInt64)
	case spec.Integer:
		return toInt(v, t, math.MinInt32, math.MaxInt32)
	case spec.Double:
		return toDouble(v)
	case spec.Numeric:
		return toNumeric(v)
	case spec.Boolean:
		return toBool(v)
	case spec.Date:
		return toDate(v)
	case spec.TimestampTZ:
		return toTimestamp(v)
	case spec.JSONB:
		return c.toJSON(v)
	case spec.Bytea:
		return toBytes(v)
	}
	return cell{}, fmt.Errorf("unknown column type %q", t)
}

func cannot(v any, t spec.Type) error {
	return fmt.Errorf("cannot convert %s to %s", describe(v), t)
}

// describe renders a value for an error message, briefly.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return spec.QuoteShort(v)
	case json.Number:
		if len(v) > 64 {
			return string(v[:64]) + "…"
		}
		return string(v)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case []byte:
		return "bytes"
	case time.Time:
		return "timestamp " + v.UTC().Format(time.RFC3339Nano)
	case bool, int64, uint64, float64, int:
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("a value of type %T", v)
}

func toText(v any) (cell, error) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case json.Number:
		s = string(v)
	case int64:
		s = strconv.FormatInt(v, 10)
	case int:
		s = strconv.Itoa(v)
	case uint64:
		s = strconv.FormatUint(v, 10)
	case float64:
		if fs, err := spec.FloatDecimal(v); err == nil {
			s = fs
		} else {
			s = strconv.FormatFloat(v, 'g', -1, 64)
		}
	case bool:
		s = strconv.FormatBool(v)
	case time.Time:
		s = v.UTC().Format(time.RFC3339Nano)
	case []byte:
		s = string(v)
	default:
		return cell{}, cannot(v, spec.Text)
	}
	if !utf8.ValidString(s) {
		return cell{}, fmt.Errorf("text %s is not valid UTF-8", spec.QuoteShort(s))
	}
	if strings.IndexByte(s, 0) >= 0 {
		return cell{}, fmt.Errorf("text %s contains a NUL byte, which Postgres refuses", spec.QuoteShort(s))
	}
	return cell{s: s}, nil
}

func toInt(v any, t spec.Type, lo, hi int64) (cell, error) {
	var i int64
	switch v := v.(type) {
	case int64:
		i = v
	case int:
		i = int64(v)
	case uint64:
		if v > math.MaxInt64 {
			return cell{}, outOfRange(v, t)
		}
		i = int64(v)
	case float64:
		// 2^63 is exactly representable; every double below it in magnitude converts exactly.
		if v != math.Trunc(v) || v < -(1<<63) || v >= 1<<63 {
			return cell{}, cannot(v, t)
		}
		i = int64(v)
	case json.Number:
		n, err := parseInt(string(v))
		if err != nil {
			return cell{}, intErr(v, t, err)
		}
		i = n
	case string:
		n, err := parseInt(v)
		if err != nil {
			return cell{}, intErr(v, t, err)
		}
		i = n
	default:
		return cell{}, cannot(v, t)
	}
	if i < lo || i > hi {
		return cell{}, outOfRange(i, t)
	}
	return cell{i: i}, nil
}

func outOfRange(v any, t spec.Type) error {
	return fmt.Errorf("%s is out of range for %s", describe(v), t)
}

func intErr(v any, t spec.Type, err error) error {
	if isRangeErr(err) {
		return outOfRange(v, t)
	}
	return cannot(v, t)
}

// parseInt parses an integer, also written as a decimal with an integral value ("12.0",
// "1.5e3"), as spreadsheet exports and some JSON encoders write them.
func parseInt(s string) (int64, error) {
	i, err := strconv.ParseInt(s, 10, 64)
	if err == nil || isRangeErr(err) {
		return i, err
	}
	if _, derr := spec.ParseDecimal(s); derr != nil {
		return 0, err
	}
	if dot := strings.IndexByte(s, '.'); dot >= 0 && !strings.ContainsAny(s, "eE") {
		if strings.Trim(s[dot+1:], "0") != "" {
			return 0, err // a fraction
		}
		return strconv.ParseInt(s[:dot], 10, 64)
	}
	// An exponent: go through a double, which is exact for integers below 2^53 only.
	f, ferr := strconv.ParseFloat(s, 64)
	if ferr != nil || f != math.Trunc(f) {
		return 0, err
	}
	if math.Abs(f) >= 1<<53 {
		return 0, err // write such integers without an exponent
	}
	return int64(f), nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func toDouble(v any) (cell, error) {
	switch v := v.(type) {
	case float64:
		return cell{f: v}, nil
	case int64:
		return cell{f: float64(v)}, nil
	case int:
		return cell{f: float64(v)}, nil
	case uint64:
		return cell{f: float64(v)}, nil
	case json.Number:
		return parseDouble(string(v), v)
	case string:
		return parseDouble(v, v)
	}
	return cell{}, cannot(v, spec.Double)
}

func parseDouble(s string, v any) (cell, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err == nil {
		return cell{f: f}, nil
	}
	if isRangeErr(err) {
		if !math.IsInf(f, 0) {
			return cell{f: f}, nil // underflow to 0 or a denormal loses nothing that matters
		}
		return cell{}, outOfRange(v, spec.Double)
	}
	return cell{}, cannot(v, spec.Double)
}

func toNumeric(v any) (cell, error) {
	var s string
	var err error
	switch v := v.(type) {
	case json.Number:
		s, err = spec.ParseDecimal(string(v))
	case string:
		s, err = spec.ParseDecimal(v)
	case int64:
		s = strconv.FormatInt(v, 10)
	case int:
		s = strconv.Itoa(v)
	case uint64:
		s = strconv.FormatUint(v, 10)
	case float64:
		s, err = spec.FloatDecimal(v)
	default:
		return cell{}, cannot(v, spec.Numeric)
	}
	if err != nil {
		return cell{}, err
	}
	return cell{s: s}, nil
}

func toBool(v any) (cell, error) {
	switch v := v.(type) {
	case bool:
		if v {
			return cell{i: 1}, nil
		}
		return cell{}, nil
	case int64, int, uint64, float64, json.Number:
		switch fmt.Sprint(v) {
		case "0":
			return cell{}, nil
		case "1":
			return cell{i: 1}, nil
		}
	case string:
		switch strings.ToLower(v) {
		case "true", "t", "yes", "y", "1":
			return cell{i: 1}, nil
		case "false", "f", "no", "n", "0":
			return cell{}, nil
		}
	}
	return cell{}, cannot(v, spec.Boolean)
}

func toDate(v any) (cell, error) {
	switch v := v.(type) {
	case time.Time:
		y, m, d := v.UTC().Date()
		return cell{t: time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}, nil
	case string:
		t, err := spec.ParseDate(v)
		if err != nil {
			return cell{}, cannot(v, spec.Date)
		}
		return cell{t: t}, nil
	}
	return cell{}, cannot(v, spec.Date)
}

func toTimestamp(v any) (cell, error) {
	switch v := v.(type) {
	case time.Time:
		return cell{t: v.UTC()}, nil
	case string:
		t, err := spec.ParseTimestamp(v)
		if err != nil {
			return cell{}, cannot(v, spec.TimestampTZ)
		}
		return cell{t: t}, nil
	}
	return cell{}, cannot(v, spec.TimestampTZ)
}

func (c *converter) toJSON(v any) (cell, error) {
	b, ok := appendJSON(c.text[:0], v)
	if ok {
		c.text = b
	} else {
		if c.enc == nil {
			c.enc = json.NewEncoder(&c.buf)
			c.enc.SetEscapeHTML(false)
		}
		c.buf.Reset()
		if err := c.enc.Encode(v); err != nil {
			return cell{}, fmt.Errorf("cannot encode %s as JSON: %w", describe(v), err)
		}
		b = bytes.TrimSuffix(c.buf.Bytes(), []byte{'\n'})
	}
	if hasNULEscape(b) {
		return cell{}, fmt.Errorf("JSON document contains \\u0000, which Postgres jsonb refuses")
	}
	return cell{s: string(b)}, nil
}

// hasNULEscape reports whether JSON text holds the escape \u0000 (and not an escaped
// backslash followed by "u0000").
func hasNULEscape(b []byte) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u0000`))
		if j < 0 {
			return false
		}
		j += i
		backslashes := 0
		for k := j - 1; k >= 0 && b[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return true
		}
		i = j + 1
	}
}

func toBytes(v any) (cell, error) {
	switch v := v.(type) {
	case []byte:
		return cell{s: string(v)}, nil
	case string:
		var (
			b   []byte
			err error
		)
		if hexText, ok := strings.CutPrefix(v, `\x`); ok {
			b, err = hex.DecodeString(hexText)
		} else {
			b, err = base64.StdEncoding.DecodeString(v)
		}
		if err != nil {
			return cell{}, fmt.Errorf("cannot convert %s to bytea: want \\x and hex digits, or base64", spec.QuoteShort(v))
		}
		return cell{s: string(b)}, nil
	}
	return cell{}, cannot(v, spec.Bytea)
}
