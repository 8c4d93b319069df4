package rowsource

import (
	"bytes"
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
		b.object(v, b.top)
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
		return m, b.object(v, m)
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
func (b *valueBuilder) object(v []byte, m map[string]any) []byte {
	v = trimSpace(v[1:]) // '{'
	if v[0] == '}' {
		return v[1:]
	}
	for {
		var key string
		key, v = b.str(v, true)
		v = trimSpace(v)[1:] // ':'
		var val any
		val, v = b.value(v)
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
	v = bytes.TrimLeft(v, " \t\r\n")
	return len(v) > 0 && v[0] == '{'
}
