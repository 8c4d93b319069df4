package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// dateLayouts are tried in order by ParseDate after the ISO fast path. Ambiguous layouts
// such as 01/02/2006 are deliberately absent: use parse_timestamp(s, layout) in CEL.
var dateLayouts = []string{
	"2006/01/02",
	"20060102",
	"02.01.2006",
	"Jan 2, 2006",
	"January 2, 2006",
	"2 Jan 2006",
	"2 January 2006",
}

// timestampLayouts are tried in order by ParseTimestamp. Fractional seconds are accepted
// after the seconds field by every layout (time.Parse does so). Layouts without a zone
// are UTC.
var timestampLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006/01/02 15:04:05",
	time.RFC1123,
	time.RFC1123Z,
}

// ParseDate parses a calendar date and returns 00:00 UTC of that day. It accepts ISO dates
// (2006-01-02), 2006/01/02, 20060102, 02.01.2006, "Jan 2, 2006", "2 Jan 2006" and every
// timestamp ParseTimestamp accepts (the date is taken in the timestamp's own offset).
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t, nil
		}
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if t, err := parseTimestamp(s); err == nil {
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a date", s)
}

// ParseTimestamp parses an instant: RFC 3339 (with T or a space, with or without a zone,
// with or without seconds), RFC 1123 or a date alone (00:00 UTC). Without a zone the time
// is UTC. The result is in UTC.
func ParseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	t, err := parseTimestamp(s)
	if err != nil {
		if d, derr := ParseDate(s); derr == nil {
			return d, nil
		}
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func parseTimestamp(s string) (time.Time, error) {
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a timestamp", s)
}

// ParseDecimal checks that s is a finite decimal number ([+-]digits[.digits][e[+-]digits])
// and returns it trimmed of surrounding space and of a leading '+', so the exact text
// reaches Postgres' numeric unchanged.
func ParseDecimal(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !isDecimal(s) {
		return "", fmt.Errorf("cannot convert %s to numeric", QuoteShort(s))
	}
	return strings.TrimPrefix(s, "+"), nil
}

func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && isDigit(s[i]) {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// QuoteShort quotes s for an error message, cut after 64 bytes so that a huge value cannot
// make a huge message.
func QuoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		cut := limit
		for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		return fmt.Sprintf("%q…", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}

// FloatDecimal returns the shortest decimal text that reads back as f, without exponent
// for ordinary magnitudes; NaN and infinities have no numeric text and are an error.
func FloatDecimal(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("cannot convert %v to numeric", f)
	}
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

func parseLayout(layout, s string) (time.Time, error) {
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot parse %s with layout %q", QuoteShort(s), layout)
	}
	return t, nil
}
