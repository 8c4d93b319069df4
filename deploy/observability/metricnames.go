package observability

import (
	"fmt"
	"strings"
)

// promqlKeywords are identifiers of PromQL that are neither metric nor function names.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"inf": true, "nan": true, "start": true, "end": true,
	// Aggregation operators, which may be followed by a by/without clause before "(".
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// labelListKeywords are followed by a parenthesized list of label names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// MetricNames returns the metric names a PromQL expression selects, sorted and unique. It
// is a scanner, not a full parser: it skips strings, label matchers ({…}), ranges and
// subqueries ([…]), label lists of by/without/on/ignoring/group_left/group_right, function
// names (identifiers followed by "("), keywords, numbers, durations and Grafana variables
// ($name, ${name}). Unbalanced brackets or an unterminated string are errors.
func MetricNames(expr string) ([]string, error) {
	set := map[string]bool{}
	depth := 0
	i := 0
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '#': // comment to end of line
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '{' || c == '[':
			end, err := skipGroup(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '}' || c == ']':
			return nil, fmt.Errorf("unbalanced %q at offset %d in %q", c, i, expr)
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced ')' at offset %d in %q", i, expr)
			}
			i++
		case c == '$':
			i = skipVariable(expr, i)
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(expr) && expr[i+1] >= '0' && expr[i+1] <= '9':
			for i < len(expr) && (isIdentChar(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(expr) && (isIdentChar(expr[i]) || expr[i] == ':') {
				i++
			}
			word := expr[start:i]
			next := skipSpace(expr, i)
			lower := strings.ToLower(word)
			switch {
			case labelListKeywords[lower] && next < len(expr) && expr[next] == '(':
				end := strings.IndexByte(expr[next:], ')')
				if end < 0 {
					return nil, fmt.Errorf("unterminated label list after %s in %q", word, expr)
				}
				i = next + end + 1
			case promqlKeywords[lower]:
			case next < len(expr) && expr[next] == '(':
				// a function or aggregation; its arguments are scanned next
			default:
				set[word] = true
			}
		default:
			i++
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced parentheses in %q", expr)
	}
	return sorted(set), nil
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset after the string literal that starts at i.
func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at offset %d in %q", i, s)
}

// skipGroup returns the offset after the {…} or […] that starts at i, skipping strings
// inside it.
func skipGroup(s string, i int) (int, error) {
	open := s[i]
	closing := byte('}')
	if open == '[' {
		closing = ']'
	}
	for j := i + 1; j < len(s); {
		switch s[j] {
		case '"', '\'', '`':
			end, err := skipString(s, j)
			if err != nil {
				return 0, err
			}
			j = end
		case closing:
			return j + 1, nil
		case open:
			return 0, fmt.Errorf("nested %q at offset %d in %q", open, j, s)
		default:
			j++
		}
	}
	return 0, fmt.Errorf("unterminated %q at offset %d in %q", open, i, s)
}

// skipVariable returns the offset after a Grafana variable $name, ${name} or ${name:fmt}.
func skipVariable(s string, i int) int {
	i++
	if i < len(s) && s[i] == '{' {
		if end := strings.IndexByte(s[i:], '}'); end >= 0 {
			return i + end + 1
		}
		return len(s)
	}
	for i < len(s) && isIdentChar(s[i]) {
		i++
	}
	return i
}
