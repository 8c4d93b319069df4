package transform_test

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/transform"
)

func TestConvert(t *testing.T) {
	t.Parallel()
	day := time.Date(2022, 7, 5, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		typ  spec.Type
		in   any
		want any
		err  string
	}{
		// null handling
		{spec.Text, nil, nil, ""},
		{spec.BigInt, "", nil, ""},
		{spec.Numeric, "  ", nil, ""},
		{spec.Date, "", nil, ""},
		{spec.Text, "", "", ""},
		{spec.JSONB, "", json.RawMessage(`""`), ""},

		// text
		{spec.Text, "Brand – exact", "Brand – exact", ""},
		{spec.Text, json.Number("158410630682987"), "158410630682987", ""},
		{spec.Text, int64(-3), "-3", ""},
		{spec.Text, 14.5, "14.5", ""},
		{spec.Text, true, "true", ""},
		{spec.Text, time.Date(2022, 7, 5, 1, 2, 3, 4, time.FixedZone("x", 3600)), "2022-07-05T00:02:03.000000004Z", ""},
		{spec.Text, map[string]any{}, nil, "cannot convert an object to text"},
		{spec.Text, "a\x00b", nil, "contains a NUL byte"},
		{spec.Text, "\xff", nil, "not valid UTF-8"},

		// bigint, integer
		{spec.BigInt, json.Number("158410630682987"), int64(158410630682987), ""},
		{spec.BigInt, json.Number("9223372036854775807"), int64(math.MaxInt64), ""},
		{spec.BigInt, json.Number("9223372036854775808"), nil, "9223372036854775808 is out of range for bigint"},
		{spec.BigInt, json.Number("2216.0"), int64(2216), ""},
		{spec.BigInt, json.Number("1.5e3"), int64(1500), ""},
		{spec.BigInt, json.Number("2216.5"), nil, "cannot convert 2216.5 to bigint"},
		{spec.BigInt, json.Number("9007199254740993.0"), int64(9007199254740993), ""},
		{spec.BigInt, json.Number("9.007199254740993e15"), nil, "cannot convert 9.007199254740993e15 to bigint"},
		{spec.BigInt, "-12.000", int64(-12), ""},
		{spec.BigInt, " 42 ", int64(42), ""},
		{spec.BigInt, "abc", nil, `cannot convert "abc" to bigint`},
		{spec.BigInt, "1,234", nil, `cannot convert "1,234" to bigint`},
		{spec.BigInt, 3.0, int64(3), ""},
		{spec.BigInt, 3.5, nil, "cannot convert 3.5 to bigint"},
		{spec.BigInt, 1e19, nil, "cannot convert 1e+19 to bigint"},
		{spec.BigInt, uint64(math.MaxUint64), nil, "out of range for bigint"},
		{spec.BigInt, true, nil, "cannot convert true to bigint"},
		{spec.Integer, json.Number("2147483647"), int64(2147483647), ""},
		{spec.Integer, json.Number("2147483648"), nil, "2147483648 is out of range for integer"},
		{spec.Integer, int64(-2147483649), nil, "out of range for integer"},

		// double
		{spec.Double, json.Number("14.5"), 14.5, ""},
		{spec.Double, "1e-3", 0.001, ""},
		{spec.Double, int64(2), 2.0, ""},
		{spec.Double, "1e999", nil, "out of range for double"},
		{spec.Double, "x", nil, `cannot convert "x" to double`},

		// numeric
		{spec.Numeric, json.Number("14.50"), "14.50", ""},
		{spec.Numeric, json.Number("12345678901234567.891"), "12345678901234567.891", ""},
		{spec.Numeric, json.Number("1e-3"), "1e-3", ""},
		{spec.Numeric, " +3.10 ", "3.10", ""},
		{spec.Numeric, 0.1, "0.1", ""},
		{spec.Numeric, int64(7), "7", ""},
		{spec.Numeric, "abc", nil, `cannot convert "abc" to numeric`},
		{spec.Numeric, math.NaN(), nil, "cannot convert NaN to numeric"},
		{spec.Numeric, false, nil, "cannot convert false to numeric"},

		// boolean
		{spec.Boolean, true, true, ""},
		{spec.Boolean, "Yes", true, ""},
		{spec.Boolean, "f", false, ""},
		{spec.Boolean, json.Number("1"), true, ""},
		{spec.Boolean, int64(0), false, ""},
		{spec.Boolean, int64(2), nil, "cannot convert 2 to boolean"},
		{spec.Boolean, "maybe", nil, `cannot convert "maybe" to boolean`},

		// date, timestamptz
		{spec.Date, "2022-07-05", day, ""},
		{spec.Date, "20220705", day, ""},
		{spec.Date, time.Date(2022, 7, 5, 23, 0, 0, 0, time.UTC), day, ""},
		{spec.Date, "07/05/2022", nil, `cannot convert "07/05/2022" to date`},
		{spec.Date, json.Number("20220705"), nil, "cannot convert 20220705 to date"},
		{spec.TimestampTZ, "2022-07-05T02:00:00+02:00", day, ""},
		{spec.TimestampTZ, "2022-07-05", day, ""},
		{spec.TimestampTZ, time.Date(2022, 7, 5, 2, 0, 0, 0, time.FixedZone("x", 7200)), day, ""},
		{spec.TimestampTZ, json.Number("1657000000"), nil, "cannot convert 1657000000 to timestamptz"},

		// jsonb
		{spec.JSONB, map[string]any{"b": []any{json.Number("1.50"), nil}, "a": "<x>"}, json.RawMessage(`{"a":"<x>","b":[1.50,null]}`), ""},
		{spec.JSONB, []any{}, json.RawMessage(`[]`), ""},
		{spec.JSONB, json.Number("158410630682987"), json.RawMessage(`158410630682987`), ""},
		{spec.JSONB, "text", json.RawMessage(`"text"`), ""},
		{spec.JSONB, map[string]any{"a": "x\x00"}, nil, `contains \u0000`},
		{spec.JSONB, map[string]any{"a": `\u0000`}, json.RawMessage(`{"a":"\\u0000"}`), ""},
		{spec.JSONB, math.Inf(1), nil, "cannot encode"},

		// bytea
		{spec.Bytea, []byte{0, 1, 0xff}, []byte{0, 1, 0xff}, ""},
		{spec.Bytea, `\x0001ff`, []byte{0, 1, 0xff}, ""},
		{spec.Bytea, `\x`, []byte{}, ""},
		{spec.Bytea, "AAH/", []byte{0, 1, 0xff}, ""},
		{spec.Bytea, "", nil, ""},
		{spec.Bytea, `\x0g`, nil, "cannot convert"},
		{spec.Bytea, "not base64!", nil, "cannot convert"},
		{spec.Bytea, int64(3), nil, "cannot convert 3 to bytea"},
	}
	for _, tc := range cases {
		got, err := transform.Convert(tc.typ, tc.in)
		name := string(tc.typ) + " " + strings.ReplaceAll(describeValue(tc.in), "\n", " ")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error = %v, want it to contain %q", name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: error = %v", name, err)
			continue
		}
		if wt, ok := tc.want.(time.Time); ok {
			if gt, ok := got.(time.Time); !ok || !gt.Equal(wt) || gt.Location() != time.UTC {
				t.Errorf("%s = %v, want %v in UTC", name, got, wt)
			}
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %#v, want %#v", name, got, tc.want)
		}
	}
}

func describeValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}
