package rowsource

import (
	"encoding/json"

	"github.com/go-json-experiment/json/jsontext"
)

// valueBuilder turns one JSON value already checked by a jsontext.Decoder into the Go
// values Reader documents (nil, bool, string, json.Number, map[string]any, []any). The
// input is known to be valid, so building is a single pass without a state machine:
// that, the interned object keys and the reused top-level map make a JSON row several
// times cheaper to read than encoding/json's Decode into an interface.
type valueBuilder struct {
	// keys interns object member names: rows of one payload repeat the same keys, so
	// each is allocated once per payload rather than once per row.
	keys map[string]string
	// top is the map of the last top-level object, reused for the next one (a Reader's
	// map is valid until the next call of Next).
	top map[string]any
	buf []byte
	// raw names the top-level fields whose object or array values are kept as RawJSON.
	raw map[string]bool
}

// RawJSON is an object or array of a JSON row kept as its text (compacted), not built
// into Go values: a field that goes into a jsonb column as it is (see KeepRaw). It
// encodes to itself.
type RawJSON []byte

// MarshalJSON implements json.Marshaler.
func (r RawJSON) MarshalJSON() ([]byte, error) { return r, nil }

// RawKeeper is implemented by the JSON readers: the object and array values of the named
// top-level fields come as RawJSON. Only a caller that reads those fields as a whole
// (Program.RawFields) asks for it; a field's scalar values come as usual.
type RawKeeper interface {
	KeepRaw(fields []string)
}

func (b *valueBuilder) keepRaw(fields []string) {
	b.raw = nil
	for _, f := range fields {
		if b.raw == nil {
			b.raw = map[string]bool{}
		}
		b.raw[f] = true
	}
}

// maxInternedKeys bounds the key table: a payload with ever new keys (ids used as keys)
// allocates them as encoding/json would, and memory stays bounded.
const maxInternedKeys = 4096

// maxInternedKeyLen keeps long keys, which are unlikely to repeat, out of the table.
const maxInternedKeyLen = 64

func newValueBuilder() *valueBuilder {
	return &valueBuilder{keys: make(map[string]string)}
}

// row builds a top-level value, reusing the previous row's map for an object.
func (b *valueBuilder) row(v jsontext.Value) any {
	v = trimSpace(v)
	if len(v) > 0 && v[0] == '{' {
		if b.top == nil {
			b.top = make(map[string]any)
		} else {
			clear(b.top)
		}
		b.object(v, b.top, b.raw)
		return b.top
	}
	val, _ := b.value(v)
	return val
}

// value builds the value at the start of v and returns it with the rest of v.
func (b *valueBuilder) value(v []byte) (any, []byte) {
	v = trimSpace(v)
	switch v[0] {
	case '{':
		m := make(map[string]any)
		return m, b.object(v, m, nil)
	case '[':
		return b.array(v)
	case '"':
		s, rest := b.str(v, false)
		return s, rest
	case 't':
		return true, v[len("true"):]
	case 'f':
		return false, v[len("false"):]
	case 'n':
		return nil, v[len("null"):]
	}
	n := numberLen(v)
	return json.Number(v[:n]), v[n:]
}

// object fills m with the members of the object at the start of v; it returns the rest.
// The object and array values of the members named in raw are kept as RawJSON.
func (b *valueBuilder) object(v []byte, m map[string]any, raw map[string]bool) []byte {
	v = trimSpace(v[1:]) // '{'
	if v[0] == '}' {
		return v[1:]
	}
	for {
		var key string
		key, v = b.str(v, true)
		v = trimSpace(v)[1:] // ':'
		var val any
		if v = trimSpace(v); raw[key] && (v[0] == '{' || v[0] == '[') {
			n := valueLen(v)
			text := jsontext.Value(append([]byte(nil), v[:n]...))
			_ = text.Compact() // valid already: it cannot fail
			val, v = RawJSON(text), v[n:]
		} else {
			val, v = b.value(v)
		}
		m[key] = val // a repeated name keeps its last value, as encoding/json does
		v = trimSpace(v)
		if v[0] == '}' {
			return v[1:]
		}
		v = trimSpace(v[1:]) // ','
	}
}

func (b *valueBuilder) array(v []byte) ([]any, []byte) {
	v = trimSpace(v[1:]) // '['
	out := []any{}
	if v[0] == ']' {
		return out, v[1:]
	}
	for {
		var val any
		val, v = b.value(v)
		out = append(out, val)
		v = trimSpace(v)
		if v[0] == ']' {
			return out, v[1:]
		}
		v = v[1:] // ','
	}
}

// str reads the string at the start of v (a key when key is set, to intern it).
func (b *valueBuilder) str(v []byte, key bool) (string, []byte) {
	v = trimSpace(v)
	end := 1
	escaped := false
	for ; ; end++ {
		c := v[end]
		if c == '"' {
			break
		}
		if c == '\\' {
			escaped = true
			end++ // the escaped character, which may be a quote
		}
	}
	raw, rest := v[:end+1], v[end+1:]
	content := raw[1:end]
	if escaped {
		// Invalid UTF-8 becomes U+FFFD, as encoding/json does; the row itself is
		// rejected by the UTF-8 guard.
		b.buf, _ = jsontext.AppendUnquote(b.buf[:0], raw)
		content = b.buf
	}
	if key && len(content) <= maxInternedKeyLen {
		if s, ok := b.keys[string(content)]; ok {
			return s, rest
		}
		s := string(content)
		if len(b.keys) < maxInternedKeys {
			b.keys[s] = s
		}
		return s, rest
	}
	return string(content), rest
}

// valueLen is the length of the valid object or array at the start of v.
func valueLen(v []byte) int {
	depth, inString := 0, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case inString:
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return len(v)
}

// numberLen is the length of the JSON number at the start of v.
func numberLen(v []byte) int {
	for i, c := range v {
		switch {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
		default:
			return i
		}
	}
	return len(v)
}

func trimSpace(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t' || v[0] == '\n' || v[0] == '\r') {
		v = v[1:]
	}
	return v
}

// isObject reports whether the valid JSON value v is an object.
func isObject(v []byte) bool {
	v = trimSpace(v)
	return len(v) > 0 && v[0] == '{'
}
