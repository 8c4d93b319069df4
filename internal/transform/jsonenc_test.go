package transform

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// encodeV1 is how jsonb values were encoded before appendJSON.
func encodeV1(t testing.TB, v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}

func decodeExact(t testing.TB, b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

func TestAppendJSONAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		v    any
		ok   bool
	}{
		{"null", nil, true},
		{"object", map[string]any{"b": json.Number("1.50"), "a": []any{true, false, nil, "x<y>&"}, "": map[string]any{}}, true},
		{"escapes", "quote\" backslash\\ nl\n tab\t nul\x00 bell\x07 é \u2028", true},
		{"keys to escape", map[string]any{"a\"b": int64(-3), "é\n": uint64(18446744073709551615)}, true},
		{"empty list", []any{}, true},
		{"nested", []any{map[string]any{"i": json.Number("12345678901234567890123"), "s": []any{"a", json.Number("-0.0e+5")}}}, true},
		{"float goes to encoding/json", map[string]any{"f": 1.5}, false},
		{"timestamp goes to encoding/json", []any{time.Unix(0, 0).UTC()}, false},
		{"invalid UTF-8 goes to encoding/json", "a\xffb", false},
		{"bad number goes to encoding/json", json.Number("1x"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := appendJSON(nil, c.v)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v (%s)", ok, c.ok, got)
			}
			if !ok {
				return
			}
			want := encodeV1(t, c.v)
			if !reflect.DeepEqual(decodeExact(t, got), decodeExact(t, want)) {
				t.Errorf("appendJSON %s, encoding/json %s", got, want)
			}
		})
	}
}

// FuzzAppendJSON: for any JSON value, the text appendJSON makes of its decoded form means
// what encoding/json's does.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"\u00e9\u2028"}],"c":null}`, `[1,2,"x"]`, `"\\\""`, `-1.0e+2`, `{"z":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		got, ok := appendJSON(nil, v)
		if !ok {
			return // encoding/json encodes it, as before
		}
		if want := encodeV1(t, v); !reflect.DeepEqual(decodeExact(t, got), decodeExact(t, want)) {
			t.Fatalf("%q: appendJSON %s, encoding/json %s", data, got, want)
		}
	})
}

func TestValidNumber(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"0": true, "-0": true, "12": true, "1.5": true, "-1.5e+10": true, "2E-3": true, "1e5": true,
		"": false, "-": false, "01": false, "1.": false, ".5": false, "1e": false, "1e+": false, "+1": false,
		"0x1": false, "NaN": false, "Infinity": false, "1.5.5": false,
	} {
		if got := validNumber(s); got != want {
			t.Errorf("validNumber(%q) = %v, want %v", s, got, want)
		}
		if got := json.Valid([]byte(s)); got != want {
			t.Errorf("test case %q disagrees with encoding/json (%v)", s, got)
		}
	}
}
