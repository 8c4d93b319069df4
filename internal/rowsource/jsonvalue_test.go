package rowsource

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
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
