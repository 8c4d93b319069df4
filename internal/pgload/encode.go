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

	"github.com/sluice-dev/sluice/internal/rowbatch"
)

// colType encodes wire values into one PostgreSQL type's binary COPY field.
type colType struct {
	name   string
	encode func(b []byte, v *rowbatch.Value) ([]byte, error)
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
	"bytea":            {"bytea", encodeBytea},
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

func mismatch(v *rowbatch.Value, typ string) error {
	return fmt.Errorf("a %s value cannot be loaded into a %s column", v.Kind, typ)
}

func encodeText(b []byte, v *rowbatch.Value) ([]byte, error) {
	switch v.Kind {
	case rowbatch.KindNull:
		return appendNull(b), nil
	case rowbatch.KindString, rowbatch.KindDecimal, rowbatch.KindJSON:
		if !utf8.Valid(v.Raw) {
			return b, errors.New("text is not valid UTF-8")
		}
		if bytes.IndexByte(v.Raw, 0) >= 0 {
			return b, errors.New("text contains a NUL byte, which PostgreSQL does not store")
		}
		return appendText(b, v.Raw), nil
	}
	return b, mismatch(v, "text")
}

func encodeBigint(b []byte, v *rowbatch.Value) ([]byte, error) {
	switch v.Kind {
	case rowbatch.KindNull:
		return appendNull(b), nil
	case rowbatch.KindInt:
		return appendInt64(b, int64(v.Num)), nil
	}
	return b, mismatch(v, "bigint")
}

func encodeInteger(b []byte, v *rowbatch.Value) ([]byte, error) {
	switch v.Kind {
	case rowbatch.KindNull:
		return appendNull(b), nil
	case rowbatch.KindInt:
		n := int64(v.Num)
		if n < math.MinInt32 || n > math.MaxInt32 {
			return b, fmt.Errorf("%d is out of range for integer", n)
		}
		b = binary.BigEndian.AppendUint32(b, 4)
		return binary.BigEndian.AppendUint32(b, uint32(int32(n))), nil
	}
	return b, mismatch(v, "integer")
}

func encodeDouble(b []byte, v *rowbatch.Value) ([]byte, error) {
	var f float64
	switch v.Kind {
	case rowbatch.KindNull:
		return appendNull(b), nil
	case rowbatch.KindFloat:
		f = math.Float64frombits(v.Num)
	case rowbatch.KindInt:
		f = float64(int64(v.Num))
	default:
		return b, mismatch(v, "double precision")
	}
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f)), nil
}

func encodeNumeric(b []byte, v *rowbatch.Value) ([]byte, error) {
	var text []byte
	switch v.Kind {
	case rowbatch.KindNull:
		return appendNull(b), nil
	case rowbatch.KindDecimal:
		text = v.Raw
	case rowbatch.KindInt:
		text = strconv.AppendInt(make([]byte, 0, 24), int64(v.Num), 10)
	case rowbatch.KindFloat:
		f := math.Float64frombits(v.Num)
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

func encodeBool(b []byte, v *rowbatch.Value) ([]byte, error) {
	switch v.Kind {
	case rowbatch.KindNull:
		return appendNull(b), nil
	case rowbatch.KindBool:
		b = binary.BigEndian.AppendUint32(b, 1)
		return append(b, byte(v.Num)), nil
	}
	return b, mismatch(v, "boolean")
}

func encodeDate(b []byte, v *rowbatch.Value) ([]byte, error) {
	switch v.Kind {
	case rowbatch.KindNull:
		return appendNull(b), nil
	case rowbatch.KindTimestamp:
		days := (v.Sec - pgEpoch) / 86400
		if (v.Sec-pgEpoch)%86400 < 0 {
			days-- // floor for days before 2000
		}
		b = binary.BigEndian.AppendUint32(b, 4)
		return binary.BigEndian.AppendUint32(b, uint32(int32(days))), nil
	}
	return b, mismatch(v, "date")
}

func encodeTimestamp(b []byte, v *rowbatch.Value) ([]byte, error) {
	switch v.Kind {
	case rowbatch.KindNull:
		return appendNull(b), nil
	case rowbatch.KindTimestamp:
		return appendInt64(b, (v.Sec-pgEpoch)*1_000_000+int64(v.Nsec/1000)), nil
	}
	return b, mismatch(v, "timestamptz")
}

func encodeJSONB(b []byte, v *rowbatch.Value) ([]byte, error) {
	switch v.Kind {
	case rowbatch.KindNull:
		return appendNull(b), nil
	case rowbatch.KindJSON:
		if !json.Valid(v.Raw) {
			return b, errors.New("json value is not valid JSON")
		}
		if bytes.Contains(v.Raw, []byte(`\u0000`)) {
			return b, errors.New(`json contains \u0000, which jsonb does not store`)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(v.Raw)+1))
		b = append(b, 1) // jsonb binary format version
		return append(b, v.Raw...), nil
	}
	return b, mismatch(v, "jsonb")
}

func encodeBytea(b []byte, v *rowbatch.Value) ([]byte, error) {
	switch v.Kind {
	case rowbatch.KindNull:
		return appendNull(b), nil
	case rowbatch.KindBytes:
		return appendText(b, v.Raw), nil
	}
	return b, mismatch(v, "bytea")
}

func truncateBytes(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
