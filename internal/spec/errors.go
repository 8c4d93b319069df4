package spec

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	// Report in the order of the spec's fields, whichever check found the problem.
	slices.SortStableFunc(fe.list, func(a, b error) int {
		return compareFields(a.(*FieldError).Field, b.(*FieldError).Field)
	})
	if fe.dropped > 0 {
		fe.list = append(fe.list, fmt.Errorf("%w: %d more problems not shown", ErrInvalid, fe.dropped))
	}
	return errors.Join(fe.list...)
}

// fieldOrder is the order of a spec's top-level fields in its JSON form.
var fieldOrder = []string{"provider", "dataset", "version", "table", "description", "format", "columns", "primary_key", "rules"}

// compareFields orders field paths by top-level field, then by list index.
func compareFields(a, b string) int {
	ra, ia := fieldRank(a)
	rb, ib := fieldRank(b)
	return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(ia, ib))
}

func fieldRank(field string) (rank, index int) {
	top, _, _ := strings.Cut(field, ".")
	name, idx, hasIdx := strings.Cut(top, "[")
	rank = slices.Index(fieldOrder, name)
	if hasIdx {
		if n, err := strconv.Atoi(strings.TrimSuffix(idx, "]")); err == nil {
			return rank, n
		}
	}
	return rank, -1
}
