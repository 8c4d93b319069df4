package spec_test

import (
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/spec"
)

func TestParseDate(t *testing.T) {
	t.Parallel()
	d := time.Date(2022, 7, 5, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2022-07-05", d, true},
		{" 2022-07-05 ", d, true},
		{"2022/07/05", d, true},
		{"20220705", d, true},
		{"05.07.2022", d, true},
		{"Jul 5, 2022", d, true},
		{"5 July 2022", d, true},
		{"2022-07-05T23:30:00-07:00", d, true}, // the date in the timestamp's own offset
		{"2022-07-05 10:00:00", d, true},
		{"07/05/2022", time.Time{}, false}, // ambiguous: refused
		{"2022-13-01", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tc := range cases {
		got, err := spec.ParseDate(tc.in)
		if (err == nil) != tc.ok || tc.ok && !got.Equal(tc.want) {
			t.Errorf("ParseDate(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	t.Parallel()
	ts := time.Date(2022, 7, 5, 8, 4, 5, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2022-07-05T08:04:05Z", ts, true},
		{"2022-07-05T10:04:05+02:00", ts, true},
		{"2022-07-05T08:04:05.123456789Z", ts.Add(123456789), true},
		{"2022-07-05T08:04:05", ts, true},
		{"2022-07-05 08:04:05", ts, true},
		{"2022-07-05 08:04:05.5", ts.Add(500 * time.Millisecond), true},
		{"2022-07-05 10:04:05+02:00", ts, true},
		{"2022-07-05T10:04:05+0200", ts, true},
		{"2022-07-05 10:04:05 +0200", ts, true},
		{"2022-07-05T08:04Z", ts.Add(-5 * time.Second), true},
		{"Tue, 05 Jul 2022 08:04:05 GMT", ts, true},
		{"2022-07-05", time.Date(2022, 7, 5, 0, 0, 0, 0, time.UTC), true},
		{"yesterday", time.Time{}, false},
		{"1657008245", time.Time{}, false},
	}
	for _, tc := range cases {
		got, err := spec.ParseTimestamp(tc.in)
		if (err == nil) != tc.ok || tc.ok && (!got.Equal(tc.want) || got.Location() != time.UTC) {
			t.Errorf("ParseTimestamp(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"14.50", "14.50"},
		{" -0.001 ", "-0.001"},
		{"+7", "7"},
		{".5", ".5"},
		{"5.", "5."},
		{"1e-3", "1e-3"},
		{"12345678901234567890.123456789", "12345678901234567890.123456789"},
		{"", ""}, {"-", ""}, {".", ""}, {"1,5", ""}, {"1e", ""}, {"NaN", ""}, {"Infinity", ""}, {"0x10", ""}, {"1 2", ""},
	}
	for _, tc := range cases {
		got, err := spec.ParseDecimal(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseDecimal(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDecimal(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestFloatDecimal(t *testing.T) {
	t.Parallel()
	cases := map[float64]string{14.5: "14.5", 0.1: "0.1", -3: "-3", 1e21: "1e+21", 1e-7: "1e-07", 123456789012: "123456789012"}
	for in, want := range cases {
		if got, err := spec.FloatDecimal(in); err != nil || got != want {
			t.Errorf("FloatDecimal(%v) = %q, %v; want %q", in, got, err, want)
		}
	}
}
