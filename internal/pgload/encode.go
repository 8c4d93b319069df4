package pgload

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// colType encodes wire values into one PostgreSQL type's binary COPY field.
type colType struct {
	name   string
	encode func(b []byte, v value) ([]byte, error)
}

// colTypes are the column types a Table may use (see allowedTypes).
var colTypes = map[string]colType{
	"text":             {"text", encodeText},
	"bigint":           {"bigint", encodeBigint},
	"integer":          {"integer", encodeInteger},
	"double precision": {"double precision", encodeDouble},
	"numeric":          {"numeric", encodeNumeric},
	"boolean":          {"boolean", encodeBool},
	"date":             {"date", encodeDate},
	"timestamptz":      {"timestamptz", encodeTimestamp},
	"jsonb":            {"jsonb", encodeJSONB},
}

// pgEpoch is PostgreSQL's zero time for dates and timestamps.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

func pgMicros(t time.Time) int64 { return (t.Unix()-pgEpoch)*1_000_000 + int64(t.Nanosecond()/1000) }

func appendNull(b []byte) []byte { return binary.BigEndian.AppendUint32(b, math.MaxUint32) }

func appendText(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendInt64(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

func mismatch(v value, typ string) error {
	return fmt.Errorf("a %s value cannot be loaded into a %s column", v.kind, typ)
}

func encodeText(b []byte, v value) ([]byte, error) {
	switch v.kind {
	case KindNull:
		return appendNull(b), nil
	case KindString, KindDecimal, KindJSON:
		if !utf8.Valid(v.raw) {
			return b, errors.New("text is not valid UTF-8")
		}
		if bytes.IndexByte(v.raw, 0) >= 0 {
			return b, errors.New("text contains a NUL byte, which PostgreSQL does not store")
		}
		return appendText(b, v.raw), nil
	}
	return b, mismatch(v, "text")
}

func encodeBigint(b []byte, v value) ([]byte, error) {
	switch v.kind {
	case KindNull:
		return appendNull(b), nil
	case KindInt:
		return appendInt64(b, int64(v.num)), nil
	}
	return b, mismatch(v, "bigint")
}

func encodeInteger(b []byte, v value) ([]byte, error) {
	switch v.kind {
	case KindNull:
		return appendNull(b), nil
	case KindInt:
		n := int64(v.num)
		if n < math.MinInt32 || n > math.MaxInt32 {
			return b, fmt.Errorf("%d is out of range for integer", n)
		}
		b = binary.BigEndian.AppendUint32(b, 4)
		return binary.BigEndian.AppendUint32(b, uint32(int32(n))), nil
	}
	return b, mismatch(v, "integer")
}

func encodeDouble(b []byte, v value) ([]byte, error) {
	var f float64
	switch v.kind {
	case KindNull:
		return appendNull(b), nil
	case KindFloat:
		f = math.Float64frombits(v.num)
	case KindInt:
		f = float64(int64(v.num))
	default:
		return b, mismatch(v, "double precision")
	}
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f)), nil
}

func encodeNumeric(b []byte, v value) ([]byte, error) {
	var text []byte
	switch v.kind {
	case KindNull:
		return appendNull(b), nil
	case KindDecimal:
		text = v.raw
	case KindInt:
		text = strconv.AppendInt(make([]byte, 0, 24), int64(v.num), 10)
	case KindFloat:
		f := math.Float64frombits(v.num)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, fmt.Errorf("%v cannot be loaded into a numeric column", f)
		}
		text = strconv.AppendFloat(make([]byte, 0, 32), f, 'g', -1, 64)
	default:
		return b, mismatch(v, "numeric")
	}
	out, err := appendNumeric(b, text)
	if err != nil {
		return b, fmt.Errorf("%q: %w", truncateBytes(text, 40), err)
	}
	return out, nil
}

func encodeBool(b []byte, v value) ([]byte, error) {
	switch v.kind {
	case KindNull:
		return appendNull(b), nil
	case KindBool:
		b = binary.BigEndian.AppendUint32(b, 1)
		return append(b, byte(v.num)), nil
	}
	return b, mismatch(v, "boolean")
}

func encodeDate(b []byte, v value) ([]byte, error) {
	switch v.kind {
	case KindNull:
		return appendNull(b), nil
	case KindTimestamp:
		days := (v.sec - pgEpoch) / 86400
		if (v.sec-pgEpoch)%86400 < 0 {
			days-- // floor for days before 2000
		}
		b = binary.BigEndian.AppendUint32(b, 4)
		return binary.BigEndian.AppendUint32(b, uint32(int32(days))), nil
	}
	return b, mismatch(v, "date")
}

func encodeTimestamp(b []byte, v value) ([]byte, error) {
	switch v.kind {
	case KindNull:
		return appendNull(b), nil
	case KindTimestamp:
		return appendInt64(b, (v.sec-pgEpoch)*1_000_000+int64(v.nsec/1000)), nil
	}
	return b, mismatch(v, "timestamptz")
}

func encodeJSONB(b []byte, v value) ([]byte, error) {
	switch v.kind {
	case KindNull:
		return appendNull(b), nil
	case KindJSON:
		if !json.Valid(v.raw) {
			return b, errors.New("json value is not valid JSON")
		}
		if bytes.Contains(v.raw, []byte(`\u0000`)) {
			return b, errors.New(`json contains \u0000, which jsonb does not store`)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(v.raw)+1))
		b = append(b, 1) // jsonb binary format version
		return append(b, v.raw...), nil
	}
	return b, mismatch(v, "jsonb")
}

func truncateBytes(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
