package sim

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// bombChunk is the uncompressed size of one repeated block of a gzip bomb.
const bombChunk = 1 << 20

// bomb is a valid single-member gzip file of the JSON array "[   …   ]"
// padded with spaces to about Faults.BombBytes, around a thousand times
// smaller compressed. It is built by compressing two blocks of spaces with
// sync flushes: once the deflate window holds only spaces, every further
// block compresses to the same bytes, so the body is head, chunk repeated,
// tail; only the trailer (CRC-32 and size) is computed for the full length.
type bomb struct {
	head, chunk, tail []byte
	repeats           int64 // times chunk follows head
	uncompressed      int64
}

func buildBomb(target int64) (*bomb, error) {
	spaces := bytes.Repeat([]byte{' '}, bombChunk)
	var out bytes.Buffer
	fw, err := flate.NewWriter(&out, flate.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("build gzip bomb: %w", err)
	}
	step := func(p ...[]byte) ([]byte, error) {
		start := out.Len()
		for _, b := range p {
			if _, err := fw.Write(b); err != nil {
				return nil, err
			}
		}
		if err := fw.Flush(); err != nil {
			return nil, err
		}
		return bytes.Clone(out.Bytes()[start:]), nil
	}
	pre, err := step([]byte{'['}, spaces[:64<<10])
	if err != nil {
		return nil, fmt.Errorf("build gzip bomb: %w", err)
	}
	first, err := step(spaces)
	if err != nil {
		return nil, fmt.Errorf("build gzip bomb: %w", err)
	}
	steady, err := step(spaces)
	if err != nil {
		return nil, fmt.Errorf("build gzip bomb: %w", err)
	}
	start := out.Len()
	if _, err := fw.Write([]byte{']'}); err != nil {
		return nil, fmt.Errorf("build gzip bomb: %w", err)
	}
	if err := fw.Close(); err != nil {
		return nil, fmt.Errorf("build gzip bomb: %w", err)
	}
	end := bytes.Clone(out.Bytes()[start:])

	// Blocks of spaces after the first: at least one, since end was
	// produced after two.
	repeats := max(1, (target-64<<10-2)/bombChunk-1)
	b := &bomb{repeats: repeats, uncompressed: 1 + 64<<10 + (repeats+1)*bombChunk + 1}
	header := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255} // gzip, deflate, no name, unknown OS
	b.head = append(append(header, pre...), first...)
	b.chunk = steady

	crc := crc32.Update(0, crc32.IEEETable, []byte{'['})
	crc = crc32.Update(crc, crc32.IEEETable, spaces[:64<<10])
	for range repeats + 1 {
		crc = crc32.Update(crc, crc32.IEEETable, spaces)
	}
	crc = crc32.Update(crc, crc32.IEEETable, []byte{']'})
	b.tail = binary.LittleEndian.AppendUint32(end, crc)
	b.tail = binary.LittleEndian.AppendUint32(b.tail, uint32(b.uncompressed))
	return b, nil
}

// size is the compressed size.
func (b *bomb) size() int64 {
	return int64(len(b.head)) + b.repeats*int64(len(b.chunk)) + int64(len(b.tail))
}

func (b *bomb) writeTo(ctx context.Context, w io.Writer) error {
	if _, err := w.Write(b.head); err != nil {
		return fmt.Errorf("write gzip bomb: %w", err)
	}
	for range b.repeats {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("write gzip bomb: %w", err)
		}
		if _, err := w.Write(b.chunk); err != nil {
			return fmt.Errorf("write gzip bomb: %w", err)
		}
	}
	if _, err := w.Write(b.tail); err != nil {
		return fmt.Errorf("write gzip bomb: %w", err)
	}
	return nil
}
