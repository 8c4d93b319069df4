package bus

import "strings"

// KVKey joins parts into a key-value bucket key, one dot-separated token per part.
// Characters a key token cannot hold become '_', and an empty part becomes "_", so any
// run id, profile or window can be part of a key without escaping by the caller.
func KVKey(parts ...string) string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = kvToken(p)
	}
	return strings.Join(out, ".")
}

func kvToken(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=') {
			b[i] = '_'
		}
	}
	return string(b)
}
