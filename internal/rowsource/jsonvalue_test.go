package rowsource

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/sluice-dev/sluice/internal/spec"
)

// decodeV1 is what the readers returned before valueBuilder: encoding/json with exact
// numbers. The builder must agree with it on every valid value.
func decodeV1(t testing.TB, data []byte) any {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("encoding/json refuses %q, which jsontext accepts: %v", data, err)
	}
	return v
}

func TestValueBuilderAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{}`, `[]`, `{"a":1}`, ` { "a" : 1 , "b" : [ 1 , 2.5e3 , -0 ] } `,
		`{"a":"x\"y\\z\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, `{"\u0061":1,"a":2}`,
		`{"a":{"b":{"c":[{"d":null},true,false]}}}`, `"plain"`, `12345678901234567890`,
		`{"big":123456789012345678901234567890,"neg":-1.5E-7}`, `{"":""}`,
		`{"k":"` + string(bytes.Repeat([]byte("é"), 40)) + `"}`, `[[],[{}],[[]]]`,
		`{"a":1,"a":{"x":1}}`,
		`{"a":"\ud800"}`, `{"a":"x\udc00y"}`, `{"a":"\ud800\u0041"}`, // lone surrogates: U+FFFD
	} {
		v := jsontext.Value(in)
		if !v.IsValid(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)) {
			t.Fatalf("test input %q is not valid JSON", in)
		}
		b := newValueBuilder()
		for range 2 { // the second time reuses the top-level map and interned keys
			if got, want := b.row(v), decodeV1(t, []byte(in)); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: built %#v, encoding/json %#v", in, got, want)
			}
		}
	}
}

// FuzzValueBuilder checks the builder against encoding/json on every input jsontext
// accepts.
func FuzzValueBuilder(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"\u00e9"}],"c":null}`, `[1,2,"x"]`, `"\\\""`, `-1.0e+2`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v := jsontext.Value(data)
		if !v.IsValid(jsontext.AllowDuplicateNames(true)) {
			return
		}
		if got, want := newValueBuilder().row(v), decodeV1(t, data); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: built %#v, encoding/json %#v", data, got, want)
		}
	})
}

func TestKeepRaw(t *testing.T) {
	t.Parallel()
	payload := `[{"doc": {"b": [1, 2.50], "a": "x\u00e9", "a": null}, "list": [ {"k":1} ], "n": 7, "s": "str", "other": {"doc": {"x": 1}}},
	  {"doc": "not an object", "list": null}]`
	for _, format := range []string{"json_array", "ndjson"} {
		t.Run(format, func(t *testing.T) {
			in := payload
			f := spec.Format{Type: spec.JSONArray}
			if format == "ndjson" {
				f.Type = spec.NDJSON
				in = `{"doc": {"b": [1, 2.50], "a": "x\u00e9", "a": null}, "list": [ {"k":1} ], "n": 7, "s": "str", "other": {"doc": {"x": 1}}}` + "\n" +
					`{"doc": "not an object", "list": null}` + "\n"
			}
			src, err := Open(f, bytes.NewReader([]byte(in)))
			if err != nil {
				t.Fatal(err)
			}
			src.(RawKeeper).KeepRaw([]string{"doc", "list", "n"})
			row, err := src.Next()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"doc":   RawJSON(`{"b":[1,2.50],"a":"x\u00e9","a":null}`), // as written, without whitespace
				"list":  RawJSON(`[{"k":1}]`),
				"n":     json.Number("7"), // a scalar comes as a value
				"s":     "str",
				"other": map[string]any{"doc": map[string]any{"x": json.Number("1")}}, // only top-level fields
			}
			if !reflect.DeepEqual(row, want) {
				t.Errorf("row = %#v\nwant %#v", row, want)
			}
			if raw, err := json.Marshal(row["doc"]); err != nil || string(raw) != `{"b":[1,2.50],"a":"xé","a":null}` && string(raw) != `{"b":[1,2.50],"a":"x\u00e9","a":null}` {
				t.Errorf("RawJSON encodes to %s (%v)", raw, err)
			}
			row, err = src.Next()
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]any{"doc": "not an object", "list": nil}; !reflect.DeepEqual(row, want) {
				t.Errorf("second row = %#v, want %#v", row, want)
			}
		})
	}
}
