package pgload

import (
	"encoding/binary"
	"errors"
)

// Limits of PostgreSQL's numeric type.
const (
	maxNumericWeight = 32767 // base-10000 digits before the point, minus one
	maxNumericScale  = 16383
)

var errNotDecimal = errors.New("not a decimal number")

// appendNumeric appends the binary COPY field (length included) of decimal text s, e.g.
// "-14.50" or "1.5e-3", keeping its scale as PostgreSQL's text input does.
func appendNumeric(b []byte, s []byte) ([]byte, error) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	// Mantissa digits without the point, and where the point was.
	digits := make([]byte, 0, 40)
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits = append(digits, s[i]-'0')
	}
	point := len(digits)
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits = append(digits, s[i]-'0')
		}
	}
	if len(digits) == 0 {
		return b, errNotDecimal
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		exp, start := 0, i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if exp > 1_000_000 {
				return b, errors.New("numeric exponent out of range")
			}
			exp = exp*10 + int(s[i]-'0')
		}
		if i == start {
			return b, errNotDecimal
		}
		if eneg {
			exp = -exp
		}
		point += exp
	}
	if i != len(s) {
		return b, errNotDecimal
	}
	dscale := max(0, len(digits)-point)
	if dscale > maxNumericScale {
		return b, errors.New("numeric scale out of range")
	}
	if point > 4*(maxNumericWeight+1) {
		return b, errors.New("numeric out of range")
	}
	// Align the point on a base-10000 digit boundary by virtual zeros in front, and pad the
	// end to whole groups (and at least up to the point).
	lead := 0
	if point < 0 {
		lead = -point
	}
	lead += (4 - (point+lead)%4) % 4
	point += lead
	total := max(lead+len(digits), point)
	total += (4 - total%4) % 4
	digit := func(k int) uint16 {
		if k < lead || k-lead >= len(digits) {
			return 0
		}
		return uint16(digits[k-lead])
	}
	groups := make([]uint16, 0, 16)
	for k := 0; k < total; k += 4 {
		groups = append(groups, digit(k)*1000+digit(k+1)*100+digit(k+2)*10+digit(k+3))
	}
	weight := point/4 - 1
	for len(groups) > 0 && groups[0] == 0 {
		groups = groups[1:]
		weight--
	}
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	sign := uint16(0x0000)
	if len(groups) == 0 {
		weight = 0
	} else if neg {
		sign = 0x4000
	}
	if weight > maxNumericWeight || weight < -maxNumericWeight {
		return b, errors.New("numeric out of range")
	}
	b = binary.BigEndian.AppendUint32(b, uint32(8+2*len(groups)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(groups)))
	b = binary.BigEndian.AppendUint16(b, uint16(int16(weight)))
	b = binary.BigEndian.AppendUint16(b, sign)
	b = binary.BigEndian.AppendUint16(b, uint16(dscale))
	for _, g := range groups {
		b = binary.BigEndian.AppendUint16(b, g)
	}
	return b, nil
}
