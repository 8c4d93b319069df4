package apiclient

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sluice-dev/sluice/internal/ratelimit"
)

// parseRetryAfter reads a Retry-After header: delay-seconds (whole, or with a fraction
// as some servers send) or an HTTP date. It returns 0 when the header is absent or
// unusable, and at least 1ms for a present, valid value (a date in the past included),
// so that "present" and "absent" stay distinguishable.
func parseRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || secs > 1e9 || secs != secs {
			return 0, false
		}
		return max(time.Duration(secs*float64(time.Second)), time.Millisecond), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), time.Millisecond), true
	}
	return 0, false
}

// retryableStatus reports whether a response status is worth another attempt. 429 is
// handled apart (it also goes to the governor). 501, 505 and 511 will not change.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported, http.StatusNetworkAuthenticationRequired:
		return false
	}
	return code >= 500 && code <= 599
}

// retryableError reports whether a transport error is worth another attempt: timeouts,
// refused or reset connections and truncated responses are; cancellation, invalid
// requests, certificate errors and governor misconfiguration are not.
func retryableError(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ratelimit.ErrUnknownQuota) || errors.Is(err, ratelimit.ErrClosed) || errors.Is(err, ErrNotReplayable) || errors.Is(err, ErrEgressRefused) {
		return false
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		invalidCert      x509.CertificateInvalidError
		hostname         x509.HostnameError
	)
	if errors.As(err, &unknownAuthority) || errors.As(err, &invalidCert) || errors.As(err, &hostname) {
		return false
	}
	if strings.Contains(err.Error(), "unsupported protocol scheme") || strings.Contains(err.Error(), "no Host in request URL") {
		return false
	}
	return true
}

// newBackoff returns the jittered exponential backoff of one call.
func (c Config) newBackoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.InitialBackoff
	b.MaxInterval = c.MaxBackoff
	b.Multiplier = c.Multiplier
	b.RandomizationFactor = c.Jitter
	b.MaxElapsedTime = c.MaxElapsed
	b.Reset()
	return b
}
