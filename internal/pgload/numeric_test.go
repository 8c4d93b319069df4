package pgload

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestAppendNumeric(t *testing.T) {
	t.Parallel()
	m := pgtype.NewMap()
	cases := []struct {
		in, want string
	}{
		{"0", "0"},
		{"14.50", "14.50"},
		{"+14.5", "14.5"},
		{"-14.5", "-14.5"},
		{"12345678.9", "12345678.9"},
		{"0.0001", "0.0001"},
		{"0.00001", "0.00001"},
		{".5", "0.5"},
		{"5.", "5"},
		{"10000", "10000"},
		{"100000000", "100000000"},
		{"1.5e3", "1500"},
		{"1.5E-3", "0.0015"},
		{"1e8", "100000000"},
		{"-2.5e-7", "-0.00000025"},
		{"123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"},
		{"9223372036854775808", "9223372036854775808"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			t.Parallel()
			b, err := appendNumeric(nil, []byte(c.in))
			if err != nil {
				t.Fatalf("appendNumeric(%q): %v", c.in, err)
			}
			var n pgtype.Numeric
			if err := m.Scan(pgtype.NumericOID, pgtype.BinaryFormatCode, b[4:], &n); err != nil {
				t.Fatalf("decode %q: %v", c.in, err)
			}
			got, err := n.Value()
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("appendNumeric(%q) decodes to %v, want %s", c.in, got, c.want)
			}
		})
	}
}

func TestAppendNumericRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "-", ".", "abc", "1.2.3", "1e", "1e+", "12a", "NaN", "1e99999999", "1e-40000"} {
		if _, err := appendNumeric(nil, []byte(in)); err == nil {
			t.Errorf("appendNumeric(%q) succeeded, want an error", in)
		}
	}
}

// FuzzAppendNumeric checks that whatever appendNumeric accepts is a well-formed binary
// numeric, and that it never panics.
func FuzzAppendNumeric(f *testing.F) {
	for _, s := range []string{"0", "-14.50", "1.5e-3", "1e8", "123456789012345678901234567890.5", "."} {
		f.Add(s)
	}
	m := pgtype.NewMap()
	f.Fuzz(func(t *testing.T, s string) {
		b, err := appendNumeric(nil, []byte(s))
		if err != nil {
			return
		}
		var n pgtype.Numeric
		if err := m.Scan(pgtype.NumericOID, pgtype.BinaryFormatCode, b[4:], &n); err != nil {
			t.Fatalf("appendNumeric(%q) is not a valid numeric: %v", s, err)
		}
	})
}
