package apiclient

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/ratelimit"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"120", 2 * time.Minute, true},
		{" 1 ", time.Second, true},
		{"0", time.Millisecond, true},
		{"0.250", 250 * time.Millisecond, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"NaN", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), time.Millisecond, true},
		{"Fri, 02 Jan 2026 03:05:05 GMT", time.Minute, true},
		{"Friday, 02-Jan-26 03:05:05 GMT", time.Minute, true}, // RFC 850
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.value != "" {
			h.Set("Retry-After", tt.value)
		}
		got, ok := parseRetryAfter(h, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestRetryableStatus(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]bool{
		200: false, 400: false, 401: false, 404: false, 408: true, 425: false, 429: false,
		500: true, 501: false, 502: true, 503: true, 504: true, 505: false, 511: false, 599: true,
	} {
		if got := retryableStatus(code); got != want {
			t.Errorf("retryableStatus(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestRetryableError(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"connection reset", context.Background(), errors.New("read: connection reset by peer"), true},
		{"cancelled", cancelled, errors.New("whatever"), false},
		{"unknown quota", context.Background(), ratelimit.ErrUnknownQuota, false},
		{"governor closed", context.Background(), ratelimit.ErrClosed, false},
		{"bad scheme", context.Background(), errors.New(`unsupported protocol scheme "ftp"`), false},
	}
	for _, tt := range tests {
		if got := retryableError(tt.ctx, tt.err); got != tt.want {
			t.Errorf("%s: retryableError = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// The backoff grows exponentially within the jitter band and stops at MaxElapsed.
func TestBackoffPolicy(t *testing.T) {
	t.Parallel()
	cfg := Config{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 2, Jitter: 0.5}.WithDefaults()
	b := cfg.newBackoff()
	base := 100 * time.Millisecond
	for i := range 6 {
		d := b.NextBackOff()
		lo, hi := time.Duration(float64(base)*0.5), time.Duration(float64(base)*1.5)
		if d < lo || d > hi {
			t.Errorf("interval %d = %v, want in [%v, %v]", i, d, lo, hi)
		}
		base = min(base*2, time.Second)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"zero", Config{}, nil},
		{"defaults", Config{}.WithDefaults(), nil},
		{"negatives", Config{MaxAttempts: -1, MaxElapsed: -1, ErrorBodyLimit: -1, MaxRetryAfter: -1, IdleReadTimeout: -1},
			[]string{"MaxAttempts", "MaxElapsed", "ErrorBodyLimit", "MaxRetryAfter", "IdleReadTimeout"}},
		{"backoff", Config{InitialBackoff: time.Second, MaxBackoff: time.Millisecond, Multiplier: 0.5, Jitter: 2},
			[]string{"MaxBackoff", "Multiplier", "Jitter"}},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if len(tt.want) == 0 && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w+":") {
				t.Errorf("%s: Validate() = %v, want it to name %s", tt.name, err, w)
			}
		}
	}
}

func TestStatusErrorMessage(t *testing.T) {
	t.Parallel()
	e := &StatusError{Method: "POST", URL: "https://api/x", StatusCode: 425, Status: "425 Too Early", Attempts: 1,
		Body: []byte("{\n \"detail\": \"duplicate of : 0b7a\"\n}")}
	if got, want := e.Error(), `POST https://api/x: 425 Too Early: { "detail": "duplicate of : 0b7a" }`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
