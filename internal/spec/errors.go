package spec

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error of Validate, Parse and Compile about the spec's
// content (as opposed to, say, a failure to build the CEL environment).
var ErrInvalid = errors.New("invalid spec")

// FieldError is one problem of a spec, located by a field path such as "columns[3].expr"
// or "primary_key[1]".
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap makes every FieldError match ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// maxFieldErrors caps how many problems one Validate reports, so a garbage spec cannot
// produce a huge error.
const maxFieldErrors = 50

// fieldErrors collects FieldErrors in the order they are found.
type fieldErrors struct {
	list    []error
	dropped int
}

func (fe *fieldErrors) add(field, format string, args ...any) {
	if len(fe.list) >= maxFieldErrors {
		fe.dropped++
		return
	}
	fe.list = append(fe.list, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (fe *fieldErrors) err() error {
	if len(fe.list) == 0 {
		return nil
	}
	if fe.dropped > 0 {
		fe.list = append(fe.list, fmt.Errorf("%w: %d more problems not shown", ErrInvalid, fe.dropped))
	}
	return errors.Join(fe.list...)
}
