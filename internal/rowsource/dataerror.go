package rowsource

import (
	"errors"
	"fmt"
	"io"

	// klauspost's gzip is a drop-in for compress/gzip that decompresses about 1.5x
	// faster; report APIs send gzip.
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// DataError is a payload that cannot be read further because of its bytes: corrupt JSON,
// broken CSV, truncated or corrupt gzip, a row too large to skip. Reading the same bytes
// again fails again, so it is the one failure of a payload that is permanent. An error of
// the reader underneath (an object store connection that drops mid-read) is never a
// DataError: the payload may read fine on the next attempt.
type DataError struct{ Err error }

func (e *DataError) Error() string { return e.Err.Error() }
func (e *DataError) Unwrap() error { return e.Err }

// IsDataError reports whether err, or an error it wraps, is a *DataError.
func IsDataError(err error) bool {
	var d *DataError
	return errors.As(err, &d)
}

// inputReader remembers the first failure of the reader it wraps, so that an error a
// parser reports can be told apart: caused by the input failing, or by its content.
type inputReader struct {
	r   io.Reader
	err error
	n   int64 // bytes read
}

func (in *inputReader) Read(p []byte) (int, error) {
	n, err := in.r.Read(p)
	in.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && in.err == nil {
		in.err = err
	}
	return n, err
}

// classify marks err as a DataError unless the input failed, or it already says what it is.
func (in *inputReader) classify(err error) error {
	var rowErr *RowError
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.As(err, &rowErr), IsDataError(err):
		return err
	case in.err != nil && !IsDataError(in.err):
		// The input failed (I/O): retryable. The parser's own message would blame the
		// payload ("ends before the array is closed"), so name the failure first.
		return fmt.Errorf("read payload: %w (the parser stopped with: %v)", in.err, err)
	case in.err != nil:
		return &DataError{Err: err} // the input's own content is bad (see Decode)
	}
	return &DataError{Err: err}
}

// classified is a Reader whose fatal errors say whether they are data errors.
type classified struct {
	Reader
	in *inputReader
}

// KeepRaw implements RawKeeper when the reader underneath does (not through unnest, whose
// fields are read as values).
func (c *classified) KeepRaw(fields []string) {
	if k, ok := c.Reader.(RawKeeper); ok {
		k.KeepRaw(fields)
	}
}

func (c *classified) Next() (map[string]any, error) {
	row, err := c.Reader.Next()
	return row, c.in.classify(err)
}

// DecodeLimits bound what decompressing one payload may produce, so a gzip bomb fails
// with a data error naming the bound instead of costing memory and time.
type DecodeLimits struct {
	// MaxBytes bounds the decompressed bytes of one payload.
	MaxBytes int64
	// MaxRatio bounds decompressed ÷ compressed bytes once RatioFloor bytes have been
	// decompressed (JSON and CSV compress 5–30×, bombs about 1000×).
	MaxRatio   float64
	RatioFloor int64
	// Names say which setting sets each bound, for the message (e.g. "--max-decompressed-bytes").
	MaxBytesName, MaxRatioName string
}

// Decode returns the decoded payload of r stored with content encoding enc ("", "gzip" or
// "zstd"), within lim (zero fields: no bound). A corrupt or truncated compressed stream,
// and a payload beyond a bound, is a *DataError; a failure of r is returned as it is.
func Decode(enc string, r io.Reader, lim DecodeLimits) (io.Reader, error) {
	in := &inputReader{r: r}
	var zr io.Reader
	var err error
	switch enc {
	case "", "identity":
		return r, nil
	case "gzip":
		zr, err = gzip.NewReader(in)
	case "zstd":
		// One block at a time and no goroutines: nothing to close, memory bounded.
		var d *zstd.Decoder
		d, err = zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(zstdMaxWindow))
		zr = d
	default:
		return nil, &DataError{Err: fmt.Errorf("content encoding %q not supported", enc)}
	}
	if err != nil {
		if in.err != nil {
			return nil, err // the input failed, not the stream
		}
		return nil, &DataError{Err: fmt.Errorf("%s: %w", enc, err)}
	}
	return &boundedReader{enc: enc, zr: zr, in: in, lim: lim}, nil
}

// zstdMaxWindow bounds the window a zstd stream may ask for, and so the decoder's memory
// (the format allows up to 3.75 TB).
const zstdMaxWindow = 8 << 20

// boundedReader decompresses within DecodeLimits and tells a corrupt stream (a
// DataError) from a failure of the input underneath.
type boundedReader struct {
	enc string
	zr  io.Reader
	in  *inputReader
	lim DecodeLimits
	out int64
	err error
}

func (g *boundedReader) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.zr.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && g.in.err == nil {
		err = &DataError{Err: fmt.Errorf("%s: %w", g.enc, err)}
	}
	g.out += int64(n)
	if g.lim.MaxBytes > 0 && g.out > g.lim.MaxBytes {
		g.err = &DataError{Err: fmt.Errorf("%s: payload decompresses to more than %d bytes, the limit %s", g.enc, g.lim.MaxBytes, g.lim.MaxBytesName)}
		return 0, g.err
	}
	if g.lim.MaxRatio > 0 && g.out > g.lim.RatioFloor && g.in.n > 0 {
		if ratio := float64(g.out) / float64(g.in.n); ratio > g.lim.MaxRatio {
			g.err = &DataError{Err: fmt.Errorf("%s: decompression ratio %.0f exceeds the limit %s %v (a decompression bomb?)", g.enc, ratio, g.lim.MaxRatioName, g.lim.MaxRatio)}
			return 0, g.err
		}
	}
	return n, err
}
