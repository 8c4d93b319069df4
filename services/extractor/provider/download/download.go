// Package download turns a report file into bounded records while it streams: a gzipped
// JSON array is decompressed, split into rows and regrouped into JSON arrays of at most
// Chunking.MaxRows rows and Chunking.MaxBytes bytes, without ever holding the report.
// Limits stop oversized files and gzip bombs with a clear error before they cost memory.
package download

import (
	"errors"
	"fmt"

	"github.com/sluice-dev/sluice/internal/apiclient"
)

// Errors of a download, wrapped with context. ErrTruncated, ErrBomb and ErrMalformed may
// go away on a new download (a cut connection, an injected fault); see Retryable.
var (
	// ErrTooLarge: the file is larger than Limits allow.
	ErrTooLarge = errors.New("report exceeds the size limit")
	// ErrBomb: the file decompresses far more than real data does (a gzip bomb).
	ErrBomb = errors.New("decompression ratio limit exceeded (gzip bomb?)")
	// ErrTruncated: the gzip stream ends early or fails its checksum.
	ErrTruncated = errors.New("truncated or corrupt gzip stream")
	// ErrMalformed: the content is not a JSON array of rows within the row size limit.
	ErrMalformed = errors.New("malformed JSON array")
)

// Retryable reports whether downloading the file again may succeed: besides the kinds
// above, a body the server stopped sending (apiclient.ErrIdleTimeout).
func Retryable(err error) bool {
	return errors.Is(err, ErrTruncated) || errors.Is(err, ErrBomb) || errors.Is(err, ErrMalformed) ||
		errors.Is(err, apiclient.ErrIdleTimeout)
}

// Limits bound what one download may cost. Zero fields take the defaults.
type Limits struct {
	// MaxCompressed bounds the bytes read from the network (default 1 GiB).
	MaxCompressed int64 `json:"max_compressed_bytes"`
	// MaxBytes bounds the decompressed bytes (default 8 GiB).
	MaxBytes int64 `json:"max_bytes"`
	// MaxRatio bounds decompressed ÷ compressed bytes once RatioFloor bytes have been
	// decompressed (default 100; JSON reports compress 5–30×, bombs about 1000×).
	MaxRatio float64 `json:"max_ratio"`
	// RatioFloor is how much may be decompressed before the ratio is checked, so that
	// tiny files of repeated values pass (default 4 MiB).
	RatioFloor int64 `json:"ratio_floor_bytes"`
	// MaxRowBytes bounds one row (default 1 MiB).
	MaxRowBytes int `json:"max_row_bytes"`
}

// WithDefaults returns l with zero fields set.
func (l Limits) WithDefaults() Limits {
	if l.MaxCompressed <= 0 {
		l.MaxCompressed = 1 << 30
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 8 << 30
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = 100
	}
	if l.RatioFloor <= 0 {
		l.RatioFloor = 4 << 20
	}
	if l.MaxRowBytes <= 0 {
		l.MaxRowBytes = 1 << 20
	}
	return l
}

// Validate names the wrong field.
func (l Limits) Validate() error {
	var errs []error
	if l.MaxRatio != 0 && l.MaxRatio < 2 {
		errs = append(errs, fmt.Errorf("max_ratio %v: must be at least 2", l.MaxRatio))
	}
	if l.MaxCompressed < 0 || l.MaxBytes < 0 || l.RatioFloor < 0 || l.MaxRowBytes < 0 {
		errs = append(errs, errors.New("download limits must not be negative"))
	}
	return errors.Join(errs...)
}

// Chunking sizes the records a report is split into.
type Chunking struct {
	// MaxRows per record (default 1000).
	MaxRows int `json:"max_rows"`
	// MaxBytes per record (default 256 KiB); a single larger row makes a record alone.
	MaxBytes int `json:"max_bytes"`
}

// WithDefaults returns c with zero fields set.
func (c Chunking) WithDefaults() Chunking {
	if c.MaxRows <= 0 {
		c.MaxRows = 1000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 256 << 10
	}
	return c
}

// Part is one record's worth of rows: a JSON array.
type Part struct {
	// Index counts parts from 0 in file order (from the first row read, see
	// GzipJSONArray's from). It depends on the chunking: name a part by its rows.
	Index int
	// FirstRow is the position in the file of the part's first row, from 0; its rows are
	// FirstRow to FirstRow+Rows-1.
	FirstRow int64
	Rows     int
	// Payload is valid only during the callback.
	Payload []byte
}

// Stats describe a finished (or failed) download.
type Stats struct {
	CompressedBytes int64
	Bytes           int64
	Rows            int64
	Parts           int
}
