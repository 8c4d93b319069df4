package pgload

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"slices"
	"time"

	"github.com/sluice-dev/sluice/internal/rowbatch"
)

// Tuples accumulates rows for one table encoded in PostgreSQL's binary COPY format, and
// keeps, per primary key, only the row of the newest data (data version, then extraction
// time, then the later row on ties; the order of the table's guard): INSERT … ON CONFLICT
// cannot touch one row twice, and a batch may hold a key twice after a redelivery, a
// replay or a provider repeating a row. Keys are compared by value as PostgreSQL compares
// them, not by encoding: numeric 1, 1.0 and 1.00 are one key, as are float -0 and 0. Encoding once, up front, means a
// row that cannot be converted is found before anything is sent, and bisecting a batch
// re-sends bytes instead of re-encoding.
//
// Memory is about the size of the data columns: tuples live in fixed-size chunks (no
// doubling slack, no copying on growth), each followed by its row's key (see dedupe),
// and the lineage columns, the same for every row of a record, are written when the rows
// are streamed to the server.
type Tuples struct {
	table    Table
	types    []colType
	pk       []int
	loadedAt int64
	chunks   [][]byte
	refs     []tupleRef
	lineage  []lineage
	live     []bool
	// older[i] is the next older version of row i's key in this batch, or -1: the
	// versions of a key form a chain, newest (the live row) first.
	older []int32
	liveN int
	// hashes[i] is the hash of row i's key; rows up to resolved are deduplicated (see
	// dedupe).
	hashes   []uint64
	resolved int
	seed     maphash.Seed
	vals     [][]byte
	val      rowbatch.Value // the value being encoded: here, it does not escape per row
	key      []byte
}

// tupleRef locates a tuple's data columns, and its key right after them.
type tupleRef struct {
	chunk, off, n int32
	keyN          int32
	lineage       int32
}

// lineage is what a record's rows carry in the lineage columns.
type lineage struct {
	batch     *rowbatch.Batch
	extracted int64 // PostgreSQL microseconds
	// version orders rows of one key: the data version, or the extraction time in unix
	// nanoseconds when the source gives none (as the guard's SQL does).
	version int64
}

// newer reports whether a holds newer data than b, in the guard's order.
func (a lineage) newer(b lineage) bool {
	if a.version != b.version {
		return a.version > b.version
	}
	return a.extracted > b.extracted
}

func newLineage(b *rowbatch.Batch) lineage {
	l := lineage{batch: b, extracted: pgMicros(b.ExtractedAt), version: b.DataVersion}
	if l.version == 0 {
		l.version = b.ExtractedAt.Truncate(time.Microsecond).UnixNano()
	}
	return l
}

// lineageColumns is how many lineage columns follow the data columns (see allColumns).
const lineageColumns = 5

// chunkBytes is the size of the chunks tuples are stored in.
const chunkBytes = 1 << 20

// NewTuples starts an empty set of rows for t; loadedAt fills the _loaded_at column and
// sizeHint, the expected bytes of the encoded rows, sizes the bookkeeping.
func NewTuples(t Table, loadedAt time.Time, sizeHint int) (*Tuples, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	ts := &Tuples{table: t, loadedAt: pgMicros(loadedAt), seed: maphash.MakeSeed()}
	if sizeHint > 0 {
		ts.refs = make([]tupleRef, 0, sizeHint/128)
	}
	for _, c := range t.Columns {
		ts.types = append(ts.types, colTypes[c.Type])
	}
	// Key columns in column order: Append meets them in that order.
	for i, c := range t.Columns {
		if slices.Contains(t.PrimaryKey, c.Name) {
			ts.pk = append(ts.pk, i)
		}
	}
	return ts, nil
}

// Reserve sizes the bookkeeping for rows more rows, so that it does not grow (copying
// what it holds) while they are appended.
func (ts *Tuples) Reserve(rows int) {
	if rows <= 0 || len(ts.refs) > 0 {
		return
	}
	ts.refs = slices.Grow(ts.refs, rows)
	ts.hashes = slices.Grow(ts.hashes, rows)
}

// Binding maps a batch's columns onto the table's.
type Binding struct {
	pos []int // per table column: the batch column carrying it, or -1
	n   int   // batch columns
}

// Bind maps columns (RowBatch.columns) onto t. Table columns the batch lacks, because an
// older spec version produced it, are loaded as null; a batch column the table lacks is an
// error (the batch was made by a newer spec than t).
func (t Table) Bind(columns []string) (Binding, error) {
	b := Binding{pos: make([]int, len(t.Columns)), n: len(columns)}
	for i := range b.pos {
		b.pos[i] = -1
	}
	for j, name := range columns {
		found := false
		for i, c := range t.Columns {
			if c.Name == name {
				b.pos[i], found = j, true
			}
		}
		if !found {
			return b, fmt.Errorf("column %q is not in table %s", name, t.Name)
		}
	}
	return b, nil
}

// Table is the table the rows are for.
func (ts *Tuples) Table() Table { return ts.table }

// Len is the number of rows appended, live or not.
func (ts *Tuples) Len() int { return len(ts.refs) }

// RowError says why one row cannot be loaded whatever the database state.
type RowError struct {
	Column string
	Reason string
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return e.Reason
	}
	return "column " + e.Column + ": " + e.Reason
}

// Append encodes row r of batch b and returns its position. A row that cannot be converted
// to the table's types is not added; the error is a *RowError.
func (ts *Tuples) Append(b *rowbatch.Batch, bind Binding, r rowbatch.WireRow) (int, error) {
	vals, _, err := r.Values(ts.vals[:0])
	ts.vals = vals
	if err != nil {
		return -1, &RowError{Reason: err.Error()}
	}
	if len(vals) != bind.n {
		return -1, &RowError{Reason: fmt.Sprintf("%d values for %d columns", len(vals), bind.n)}
	}
	enc := binary.BigEndian.AppendUint16(ts.tail(), uint16(len(ts.types)+lineageColumns))
	ts.key = ts.key[:0]
	pk := 0
	v := &ts.val
	for i, typ := range ts.types {
		fieldStart := len(enc)
		if p := bind.pos[i]; p < 0 {
			enc = appendNull(enc)
		} else {
			err := v.Decode(vals[p])
			if err == nil {
				enc, err = typ.encode(enc, v)
			}
			if err != nil {
				return -1, &RowError{Column: ts.table.Columns[i].Name, Reason: err.Error()}
			}
		}
		if pk < len(ts.pk) && ts.pk[pk] == i {
			if binary.BigEndian.Uint32(enc[fieldStart:]) == math.MaxUint32 {
				return -1, &RowError{Column: ts.table.Columns[i].Name, Reason: "null in a primary key column"}
			}
			ts.key = appendKey(ts.key, ts.types[i], enc[fieldStart:])
			pk++
		}
	}
	if len(ts.lineage) == 0 || ts.lineage[len(ts.lineage)-1].batch != b {
		ts.lineage = append(ts.lineage, newLineage(b))
	}
	lin := int32(len(ts.lineage) - 1)
	ref := ts.store(enc, ts.key)
	ref.lineage = lin

	idx := len(ts.refs)
	ts.refs = append(ts.refs, ref)
	ts.hashes = append(ts.hashes, ts.hashKey(ts.key))
	return idx, nil
}

// Older returns the next older version of row i's key in this batch, or -1. When the
// database refuses the version of a key that survived deduplication, the loader loads
// this one instead (and so on down the chain), so that a rejected newest version goes to
// the DLQ with its reason without taking the key's other versions with it; the guard
// still keeps the table's fresher rows.
func (ts *Tuples) Older(i int) int {
	ts.dedupe()
	return int(ts.older[i])
}

// tail returns the free end of the last chunk, where Append encodes a tuple in place
// rather than in a buffer it would then copy.
func (ts *Tuples) tail() []byte {
	if len(ts.chunks) == 0 {
		ts.chunks = append(ts.chunks, make([]byte, 0, chunkBytes))
	}
	c := ts.chunks[len(ts.chunks)-1]
	return c[len(c):]
}

// store keeps the tuple enc, encoded at tail, and its key right after it. A tuple that
// outgrew the chunk's room was moved by append (its capacity is no longer the room left):
// it goes to a new chunk, as does one whose key does not fit.
func (ts *Tuples) store(enc, key []byte) tupleRef {
	last := len(ts.chunks) - 1
	c := ts.chunks[last]
	room, n := cap(c)-len(c), len(enc)+len(key)
	if cap(enc) == room && n <= room {
		c = c[:len(c)+len(enc)] // enc is there already
	} else {
		c = append(make([]byte, 0, max(chunkBytes, n)), enc...)
		ts.chunks = append(ts.chunks, c)
		last++
	}
	off := len(c) - len(enc)
	ts.chunks[last] = append(c, key...)
	return tupleRef{chunk: int32(last), off: int32(off), n: int32(len(enc)), keyN: int32(len(key))}
}

// keyOf returns the key of row i, as appendKey made it.
func (ts *Tuples) keyOf(i int) []byte {
	ref := ts.refs[i]
	start := ref.off + ref.n
	return ts.chunks[ref.chunk][start : start+ref.keyN]
}

// LiveLen is how many rows survived deduplication: one per key.
func (ts *Tuples) LiveLen() int {
	ts.dedupe()
	return ts.liveN
}

// Live returns the positions of the rows that survived deduplication, in order.
func (ts *Tuples) Live() []int {
	ts.dedupe()
	out := make([]int, 0, ts.liveN)
	for i, ok := range ts.live {
		if ok {
			out = append(out, i)
		}
	}
	return out
}

// appendTuple appends the whole COPY tuple of row i: its data columns, then lineage.
func (ts *Tuples) appendTuple(buf []byte, i int) []byte {
	ref := ts.refs[i]
	buf = append(buf, ts.chunks[ref.chunk][ref.off:ref.off+ref.n]...)
	lin := ts.lineage[ref.lineage]
	buf = appendString(buf, lin.batch.RecordID)
	if lin.batch.TraceID == "" {
		buf = appendNull(buf)
	} else {
		buf = appendString(buf, lin.batch.TraceID)
	}
	buf = appendInt64(buf, lin.extracted)
	buf = appendInt64(buf, ts.loadedAt)
	if lin.batch.DataVersion == 0 {
		return appendNull(buf)
	}
	return appendInt64(buf, lin.batch.DataVersion)
}

// appendKey appends a key column's COPY field to key in a form where values PostgreSQL
// holds equal are equal bytes: the binary encoding keeps what equality ignores (a
// numeric's display scale, the sign of a float zero, the payload bits of a NaN), and two
// rows whose keys differ only so would both reach INSERT … ON CONFLICT, which then fails
// the whole statement (SQLSTATE 21000). Other types encode equal values alike: text is
// compared byte for byte under the default deterministic collations, timestamps are
// instants.
func appendKey(key []byte, typ colType, field []byte) []byte {
	start := len(key)
	key = append(key, field...)
	f := key[start:]
	switch typ.name {
	case "numeric":
		// length(4) ndigits(2) weight(2) sign(2) dscale(2) digits: trailing zero digits are
		// already stripped by appendNumeric, so only the display scale differs.
		if len(f) >= 12 {
			f[10], f[11] = 0, 0
		}
	case "double precision":
		if len(f) == 12 {
			v := math.Float64frombits(binary.BigEndian.Uint64(f[4:]))
			switch {
			case v == 0:
				v = 0 // -0 = 0
			case math.IsNaN(v):
				v = math.NaN() // PostgreSQL holds every NaN equal
			}
			binary.BigEndian.PutUint64(f[4:], math.Float64bits(v))
		}
	}
	return key
}

// copyHeader starts a binary COPY stream: signature, flags, header extension length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// reader streams the selected tuples as a binary COPY body.
func (ts *Tuples) reader(sel []int) io.Reader {
	return &copyReader{ts: ts, sel: sel, pending: copyHeader}
}

type copyReader struct {
	ts      *Tuples
	sel     []int
	next    int
	pending []byte
	buf     []byte
	done    bool
}

func (r *copyReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.pending) == 0 {
			switch {
			case r.next < len(r.sel):
				r.buf = r.ts.appendTuple(r.buf[:0], r.sel[r.next])
				r.pending = r.buf
				r.next++
			case !r.done:
				r.pending, r.done = []byte{0xff, 0xff}, true
			default:
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
		}
		c := copy(p[n:], r.pending)
		r.pending = r.pending[c:]
		n += c
	}
	return n, nil
}
