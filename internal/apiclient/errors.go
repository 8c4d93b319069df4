package apiclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrNotReplayable is returned (wrapped, with the error that needed a retry) when a
// request with a body failed in a retryable way but its body cannot be sent again
// (http.Request.GetBody is nil). Build requests with http.NewRequestWithContext and a
// bytes.Reader, bytes.Buffer or strings.Reader body, or set GetBody.
var ErrNotReplayable = errors.New("request body cannot be replayed")

// StatusError is an HTTP response that ended a call: a 4xx (never retried, except 429
// and one 401 after a credential refresh), or a 429/5xx that was still failing when the
// retries ran out. Use errors.As to read it.
type StatusError struct {
	Method     string
	URL        string // without query string (it may hold credentials)
	StatusCode int
	Status     string
	Header     http.Header
	// Body is the start of the response body, at most Config.ErrorBodyLimit bytes.
	Body []byte
	// Attempts is how many requests the call made.
	Attempts int
	// RetryAfter is the server's Retry-After, if it sent one.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", e.Method, e.URL, e.Status)
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if len(e.Body) > 0 {
		excerpt := strings.Join(strings.Fields(string(e.Body)), " ")
		if len(excerpt) > 200 {
			excerpt = excerpt[:200] + "…"
		}
		fmt.Fprintf(&b, ": %s", excerpt)
	}
	return b.String()
}

// Temporary reports whether trying again later may succeed: throttling (429), request
// timeout (408) and server errors (5xx but 501, 505, 511). A caller uses it to choose
// between a delayed redelivery and a dead letter.
func (e *StatusError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || retryableStatus(e.StatusCode)
}

// ErrIdleTimeout is matched (errors.Is) by every *IdleTimeoutError.
var ErrIdleTimeout = errors.New("response body idle timeout")

// IdleTimeoutError is returned by a read of a response body when the server sent no byte
// for Config.IdleReadTimeout: the body was closed and its concurrency slot released.
// Sending the request again may succeed (Timeout reports true).
type IdleTimeoutError struct {
	Method string
	URL    string // without query string (it may hold credentials)
	Host   string
	Idle   time.Duration
	// Received is how many body bytes arrived before the stall.
	Received int64
}

func (e *IdleTimeoutError) Error() string {
	return fmt.Sprintf("%s %s: response body stalled: no byte from %s for %v (after %d bytes)", e.Method, e.URL, e.Host, e.Idle, e.Received)
}

// Is makes errors.Is(err, ErrIdleTimeout) true.
func (e *IdleTimeoutError) Is(target error) bool { return target == ErrIdleTimeout }

// Timeout reports true, like net.Error timeouts.
func (e *IdleTimeoutError) Timeout() bool { return true }
