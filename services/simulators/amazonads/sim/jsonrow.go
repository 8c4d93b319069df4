package sim

import (
	"strconv"
	"unicode/utf8"
)

// appendRow appends the JSON object of record r with the planned columns,
// in the requested column order.
func (p *plan) appendRow(dst []byte, r *record) []byte {
	dst = append(dst, '{')
	for i, c := range p.columns {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, c.name)
		dst = append(dst, ':')
		v := c.get(r)
		switch v.kind {
		case kindInt:
			dst = strconv.AppendInt(dst, v.i, 10)
		case kindDecimal:
			dst = appendDecimal(dst, v.f)
		default:
			dst = appendJSONString(dst, v.s)
		}
	}
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string, escaping what JSON requires.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\':
				dst = append(dst, '\\', b)
			case b < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			default:
				dst = append(dst, b)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
