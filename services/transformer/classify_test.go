package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// TestOnlyDataErrorsArePermanent: a record goes to the DLQ at once only when its bytes
// cannot be read; S3, publish and DLQ failures are retried.
func TestOnlyDataErrorsArePermanent(t *testing.T) {
	t.Parallel()
	rec := &sluicev1.Record{Id: "rec", Provider: "acme", Dataset: "items"}
	sp := &spec.Spec{Provider: "acme", Dataset: "items"}
	data := &rowsource.DataError{Err: errors.New("json array: row 3: invalid character")}
	cases := []struct {
		name      string
		err       error
		permanent bool
	}{
		{"corrupt payload", fmt.Errorf("read row 3: %w", data), true},
		{"truncated gzip", &rowsource.DataError{Err: fmt.Errorf("gzip: %w", io.ErrUnexpectedEOF)}, true},
		{"s3 read fails mid-record", fmt.Errorf("read row 7: read payload: %w", io.ErrUnexpectedEOF), false},
		{"claim check cannot be opened", fmt.Errorf("open claim check: %w", errors.New("NoSuchKey")), false},
		{"rows publish fails", fmt.Errorf("emit row 9: %w", errors.New("nats: timeout")), false},
		{"row dead letter fails", fmt.Errorf("reject row 4: %w", errors.New("dead-letter: nats: no responders")), false},
		{"shutdown", fmt.Errorf("read row 1: %w", context.Canceled), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := classify(rec, sp, c.err)
			if got := bus.IsPermanent(err); got != c.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, c.permanent, err)
			}
			if !errors.Is(err, c.err) {
				t.Errorf("%v does not wrap the cause", err)
			}
		})
	}
}

func TestMissingSpecIsAnOutage(t *testing.T) {
	t.Parallel()
	rec := &sluicev1.Record{Provider: "acme", Dataset: "items"}
	u, ok := bus.AsUnavailable(specError(rec, fmt.Errorf("%w: acme/items", specstore.ErrNotFound)))
	if !ok || u.Target != "spec acme/items" {
		t.Errorf("a spec not registered yet: %v, want bus.Unavailable of spec acme/items", u)
	}
	other := errors.New("nats: timeout")
	if err := specError(rec, other); bus.IsPermanent(err) || err != other {
		t.Errorf("a failure to read the spec: %v, want it returned as it is (retried)", err)
	}
}
