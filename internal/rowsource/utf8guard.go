package rowsource

import (
	"io"
	"unicode/utf8"
)

// utf8Guard notes where invalid UTF-8 passes through it. encoding/json replaces invalid
// UTF-8 inside strings with U+FFFD without an error, so a row holding such bytes would be
// loaded altered; the JSON array reader asks the guard about each row's byte span and
// rejects the row instead. It keeps only the offsets not yet claimed by a row: memory is
// bounded by the decoder's read-ahead.
type utf8Guard struct {
	r     io.Reader
	read  int64   // bytes passed through
	carry []byte  // an incomplete sequence at the end of the last read (at most 3 bytes)
	bad   []int64 // offsets of invalid sequences, ascending
}

func newUTF8Guard(r io.Reader) *utf8Guard {
	return &utf8Guard{r: r, carry: make([]byte, 0, 2*utf8.UTFMax)}
}

func (g *utf8Guard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	g.scan(p[:n], err != nil)
	return n, err
}

func (g *utf8Guard) scan(b []byte, eof bool) {
	base := g.read // offset of b[0]
	g.read += int64(len(b))
	if len(g.carry) == 0 && utf8.Valid(b) {
		return // the common case
	}
	i := 0
	if c := len(g.carry); c > 0 {
		seam := append(g.carry, b[:min(len(b), utf8.UTFMax)]...)
		switch r, size := utf8.DecodeRune(seam); {
		case !utf8.FullRune(seam) && !eof:
			g.carry = seam // still incomplete: b was shorter than the rest of the rune
			return
		case r == utf8.RuneError && size <= 1:
			// The lead byte is invalid, and so is each carried continuation byte after it,
			// as a decoder of the whole input would find.
			for k := range c {
				g.bad = append(g.bad, base-int64(c-k))
			}
		default:
			i = size - c
		}
		g.carry = g.carry[:0]
	}
	for i < len(b) {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		if !utf8.FullRune(b[i:]) {
			if eof {
				for ; i < len(b); i++ { // a cut sequence: each byte is invalid
					g.bad = append(g.bad, base+int64(i))
				}
			} else {
				g.carry = append(g.carry[:0], b[i:]...)
			}
			return
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			g.bad = append(g.bad, base+int64(i))
		}
		i += size
	}
}

// claim reports the first invalid offset in [start, end), or -1, and forgets every offset
// before end.
func (g *utf8Guard) claim(start, end int64) int64 {
	found := int64(-1)
	k := 0
	for ; k < len(g.bad) && g.bad[k] < end; k++ {
		if found < 0 && g.bad[k] >= start {
			found = g.bad[k]
		}
	}
	g.bad = append(g.bad[:0], g.bad[k:]...)
	return found
}
