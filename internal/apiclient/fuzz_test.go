package apiclient

import (
	"net/http"
	"testing"
	"time"
)

// FuzzParseRetryAfter: a provider's Retry-After header is arbitrary bytes. Parsing must not
// panic, a usable value is at least 1ms (present stays distinguishable from absent), an
// unusable one is absent, and a delay in seconds is never negative or beyond the cap.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "1", "1.5", "-1", "1e9", "1e10", "NaN", "+Inf", "Wed, 21 Oct 2015 07:28:00 GMT",
		"Mon, 07 Dec 2026 13:00:00 GMT", "Monday, 07-Dec-26 13:00:00 GMT", "Mon Dec  7 13:00:00 2026", " 120 ", "0x10", "1_000"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(http.Header{"Retry-After": {v}}, now)
		switch {
		case !ok && d != 0:
			t.Fatalf("%q: absent but %v", v, d)
		case ok && d < time.Millisecond:
			t.Fatalf("%q: present but %v", v, d)
		}
	})
}
