package download

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
)

// GzipJSONArray reads a gzipped JSON array of rows from r and calls fn with each part of
// at most ch.MaxRows rows and ch.MaxBytes bytes (rows are copied byte for byte). The first
// from rows of the file are read and checked but put in no part: a resumed download
// passes the rows an earlier attempt published, and its parts start exactly after them,
// whatever the chunking then and now. Memory is bounded by the part size and
// lim.MaxRowBytes, whatever the file size. It stops with ctx's error when ctx ends, and
// with fn's error when fn fails.
func GzipJSONArray(ctx context.Context, r io.Reader, lim Limits, ch Chunking, from int64, fn func(context.Context, Part) error) (Stats, error) {
	lim, ch = lim.WithDefaults(), ch.WithDefaults()
	var st Stats
	comp := &countReader{r: r, max: lim.MaxCompressed}
	zr, err := gzip.NewReader(comp)
	if err != nil {
		st.CompressedBytes = comp.n
		return st, classify(fmt.Errorf("gzip header: %w", err), comp, nil)
	}
	defer zr.Close()
	plain := &ratioReader{r: zr, comp: comp, lim: lim}
	err = JSONArray(ctx, plain, lim.MaxRowBytes, ch, from, func(ctx context.Context, p Part) error {
		st.Rows += int64(p.Rows)
		st.Parts++
		return fn(ctx, p)
	})
	st.CompressedBytes, st.Bytes = comp.n, plain.n
	if err != nil {
		return st, classify(err, comp, plain)
	}
	return st, nil
}

// classify turns decoder errors into the package's error kinds, with sizes for context.
func classify(err error, comp *countReader, plain *ratioReader) error {
	var n int64
	if plain != nil {
		n = plain.n
	}
	at := fmt.Sprintf("after %d compressed / %d decompressed bytes", comp.n, n)
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrBomb), errors.Is(err, ErrMalformed):
		return fmt.Errorf("%w (%s)", err, at)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, gzip.ErrChecksum):
		return fmt.Errorf("%w: %v (%s)", ErrTruncated, err, at)
	case errors.Is(err, gzip.ErrHeader):
		return fmt.Errorf("%w: not gzip: %v (%s)", ErrMalformed, err, at)
	}
	return err
}

// countReader counts the bytes read through it and fails past max.
type countReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, fmt.Errorf("%w: more than %d compressed bytes", ErrTooLarge, c.max)
	}
	return n, err
}

// ratioReader counts decompressed bytes and fails past the size or ratio limits.
type ratioReader struct {
	r    io.Reader
	comp *countReader
	lim  Limits
	n    int64
}

func (d *ratioReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.n += int64(n)
	if d.n > d.lim.MaxBytes {
		return n, fmt.Errorf("%w: more than %d decompressed bytes", ErrTooLarge, d.lim.MaxBytes)
	}
	if d.n > d.lim.RatioFloor && float64(d.n) > d.lim.MaxRatio*float64(max(d.comp.n, 1)) {
		return n, fmt.Errorf("%w: %d bytes from %d compressed, more than %g:1", ErrBomb, d.n, d.comp.n, d.lim.MaxRatio)
	}
	return n, err
}

// bufSize is the read buffer of the row splitter.
const bufSize = 64 << 10

// JSONArray splits an uncompressed JSON array from r into parts, leaving out its first
// from rows; see GzipJSONArray.
func JSONArray(ctx context.Context, r io.Reader, maxRow int, ch Chunking, from int64, fn func(context.Context, Part) error) error {
	ch = ch.WithDefaults()
	if maxRow <= 0 {
		maxRow = 1 << 20
	}
	s := &splitter{br: bufio.NewReaderSize(r, bufSize), maxRow: maxRow}
	part := Part{}
	buf := make([]byte, 0, min(ch.MaxBytes, 1<<20)+2)
	flush := func() error {
		if part.Rows == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		part.Payload = append(buf, ']')
		if err := fn(ctx, part); err != nil {
			return err
		}
		part = Part{Index: part.Index + 1, FirstRow: part.FirstRow + int64(part.Rows)}
		buf = buf[:0]
		return nil
	}
	if err := s.open(); err != nil {
		return err
	}
	part.FirstRow = max(from, 0)
	for {
		row, err := s.next()
		if errors.Is(err, io.EOF) {
			return flush()
		}
		if err != nil {
			return err
		}
		if int64(s.rows) <= from {
			continue // published by an earlier attempt
		}
		if part.Rows > 0 && (part.Rows >= ch.MaxRows || len(buf)+1+len(row)+1 > ch.MaxBytes) {
			if err := flush(); err != nil {
				return err
			}
		}
		if part.Rows == 0 {
			buf = append(buf, '[')
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, row...)
		part.Rows++
	}
}
