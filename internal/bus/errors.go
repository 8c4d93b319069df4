package bus

import (
	"errors"
	"fmt"
)

// permanentError marks a failure that retrying cannot fix (malformed input, a spec
// violation): the message goes to the DLQ at once instead of being redelivered.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// UnavailableError is an outage of something the stage depends on (a database, the
// object store, a spec not registered yet): neither the message's fault nor worth a
// delivery. The consumer holds the message, stops fetching and retries it once the
// target is back.
type UnavailableError struct {
	// Target names what is awaited, for logs, metrics and readiness ("postgres",
	// "spec amazonads/sp_campaigns").
	Target string
	Err    error
}

func (e *UnavailableError) Error() string { return fmt.Sprintf("%s unavailable: %v", e.Target, e.Err) }
func (e *UnavailableError) Unwrap() error { return e.Err }

// Unavailable marks err as an outage of target. Unavailable(_, nil) is nil.
func Unavailable(target string, err error) error {
	if err == nil {
		return nil
	}
	return &UnavailableError{Target: target, Err: err}
}

// AsUnavailable returns the outage err wraps, if any.
func AsUnavailable(err error) (*UnavailableError, bool) {
	var u *UnavailableError
	ok := errors.As(err, &u)
	return u, ok
}
