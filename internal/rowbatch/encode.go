// Package rowbatch is the one codec of sluice.v1.RowBatch (proto/sluice/v1): the
// transformer encodes rows into it as they are computed, the loader and pgload read it
// without unmarshalling its rows, and a dead letter of one row is cut from it. Every stage
// that reads or writes row batches calls this package; no other code knows its field
// numbers.
//
// The encoding is byte for byte what proto.Marshal produces for the same message, and a
// batch parsed here aliases the message bytes, so the codec costs neither a RowBatch of
// thousands of rows in memory nor a copy of it.
package rowbatch

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// Field numbers of sluice.v1.RowBatch, Row, Value and google.protobuf.Timestamp. A test
// checks them against the generated descriptors.
const (
	fBatchTable       = 1
	fBatchProvider    = 2
	fBatchDataset     = 3
	fBatchSpecVersion = 4
	fBatchRecordID    = 5
	fBatchTraceID     = 6
	fBatchExtractedAt = 7
	fBatchColumns     = 8
	fBatchRows        = 9
	fBatchPart        = 10
	fBatchDataVersion = 11

	fRowValues = 1
	fRowIndex  = 2

	fValueNull      = 1
	fValueString    = 2
	fValueInt       = 3
	fValueFloat     = 4
	fValueBool      = 5
	fValueTimestamp = 6
	fValueDecimal   = 7
	fValueBytes     = 8
	fValueJSON      = 9

	fTimestampSeconds = 1
	fTimestampNanos   = 2
)

// Encoder builds the RowBatch messages of one record as its rows arrive: the encoded size
// bounds a batch exactly without a proto.Size pass per row, and no RowBatch message of
// thousands of rows is ever held. An Encoder is reused for every batch of its record and
// is not safe for concurrent use.
type Encoder struct {
	// head is the encoded header (table … columns), the same for every batch of a record;
	// part and data_version come after the rows, in field order.
	head        []byte
	dataVersion int64
	buf         []byte
	scratch     []byte
	rows        int
	first, last int64
}

// NewEncoder starts the batches of the record that head describes. head's rows and part
// are ignored.
func NewEncoder(head *sluicev1.RowBatch) (*Encoder, error) {
	h := &sluicev1.RowBatch{
		Table: head.GetTable(), Provider: head.GetProvider(), Dataset: head.GetDataset(),
		SpecVersion: head.GetSpecVersion(), RecordId: head.GetRecordId(), TraceId: head.GetTraceId(),
		ExtractedAt: head.GetExtractedAt(), Columns: head.GetColumns(),
	}
	data, err := proto.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode row batch header: %w", err)
	}
	return &Encoder{head: data, dataVersion: head.GetDataVersion()}, nil
}

// Add appends r to the current batch.
func (e *Encoder) Add(r *sluicev1.Row) {
	if e.rows == 0 {
		e.buf = append(e.buf[:0], e.head...)
		e.first = r.GetIndex()
	}
	e.scratch = appendRow(e.scratch[:0], r)
	e.buf = protowire.AppendTag(e.buf, fBatchRows, protowire.BytesType)
	e.buf = protowire.AppendBytes(e.buf, e.scratch)
	e.last = r.GetIndex()
	e.rows++
}

// Rows is the number of rows in the current batch.
func (e *Encoder) Rows() int { return e.rows }

// Size is the encoded size of the current batch so far (the trailing part and
// data_version fields excepted, a few bytes).
func (e *Encoder) Size() int { return len(e.buf) }

// Span returns the index (Row.index) of the first and last row of the current batch.
func (e *Encoder) Span() (first, last int64) { return e.first, e.last }

// Flush ends the current batch as part and returns it as a message whose marshalling
// yields exactly the encoded bytes; it is valid until the next Add. The next Add starts a
// new batch.
func (e *Encoder) Flush(part int32) *sluicev1.RowBatch {
	b := appendTail(e.buf, part, e.dataVersion)
	e.buf, e.rows = b[:0], 0
	return Wrap(b)
}

// Wrap returns a RowBatch message whose marshalling yields exactly data (held as unknown
// fields), so encoded bytes travel through APIs that take a proto.Message (bus.Message)
// without being decoded and encoded again.
func Wrap(data []byte) *sluicev1.RowBatch {
	m := &sluicev1.RowBatch{}
	m.ProtoReflect().SetUnknown(protoreflect.RawFields(data))
	return m
}

// SingleRow returns the RowBatch that carries only row r of b: what a dead letter of that
// row holds, so that a retry re-sends the bad row alone and not its whole message.
func SingleRow(b *Batch, r WireRow) ([]byte, error) {
	head := &sluicev1.RowBatch{
		Table: b.Table, Provider: b.Provider, Dataset: b.Dataset, SpecVersion: b.SpecVersion,
		RecordId: b.RecordID, TraceId: b.TraceID, Columns: b.Columns,
	}
	if !b.ExtractedAt.IsZero() {
		head.ExtractedAt = timestamppb.New(b.ExtractedAt)
	}
	data, err := proto.Marshal(head)
	if err != nil {
		return nil, fmt.Errorf("encode row batch header: %w", err)
	}
	data = protowire.AppendTag(data, fBatchRows, protowire.BytesType)
	data = protowire.AppendBytes(data, r)
	return appendTail(data, b.Part, b.DataVersion), nil
}

// appendTail appends the fields that follow the rows, as proto.Marshal orders them.
func appendTail(b []byte, part int32, dataVersion int64) []byte {
	if part != 0 {
		b = protowire.AppendTag(b, fBatchPart, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(part)))
	}
	if dataVersion != 0 {
		b = protowire.AppendTag(b, fBatchDataVersion, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(dataVersion))
	}
	return b
}

func appendRow(b []byte, r *sluicev1.Row) []byte {
	var scratch [64]byte
	for _, v := range r.GetValues() {
		b = protowire.AppendTag(b, fRowValues, protowire.BytesType)
		b = protowire.AppendBytes(b, appendValue(scratch[:0], v))
	}
	if r.GetIndex() != 0 {
		b = protowire.AppendTag(b, fRowIndex, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.GetIndex()))
	}
	return b
}

// appendValue encodes a Value: the set member of its oneof, even when zero.
func appendValue(b []byte, v *sluicev1.Value) []byte {
	switch k := v.GetKind().(type) {
	case *sluicev1.Value_Null:
		b = protowire.AppendTag(b, fValueNull, protowire.VarintType)
		return protowire.AppendVarint(b, protowire.EncodeBool(k.Null))
	case *sluicev1.Value_String_:
		b = protowire.AppendTag(b, fValueString, protowire.BytesType)
		return protowire.AppendString(b, k.String_)
	case *sluicev1.Value_Int:
		b = protowire.AppendTag(b, fValueInt, protowire.VarintType)
		return protowire.AppendVarint(b, uint64(k.Int))
	case *sluicev1.Value_Float:
		b = protowire.AppendTag(b, fValueFloat, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, math.Float64bits(k.Float))
	case *sluicev1.Value_Bool:
		b = protowire.AppendTag(b, fValueBool, protowire.VarintType)
		return protowire.AppendVarint(b, protowire.EncodeBool(k.Bool))
	case *sluicev1.Value_Timestamp:
		var ts []byte
		if s := k.Timestamp.GetSeconds(); s != 0 {
			ts = protowire.AppendTag(ts, fTimestampSeconds, protowire.VarintType)
			ts = protowire.AppendVarint(ts, uint64(s))
		}
		if n := k.Timestamp.GetNanos(); n != 0 {
			ts = protowire.AppendTag(ts, fTimestampNanos, protowire.VarintType)
			ts = protowire.AppendVarint(ts, uint64(int64(n)))
		}
		b = protowire.AppendTag(b, fValueTimestamp, protowire.BytesType)
		return protowire.AppendBytes(b, ts)
	case *sluicev1.Value_Decimal:
		b = protowire.AppendTag(b, fValueDecimal, protowire.BytesType)
		return protowire.AppendString(b, k.Decimal)
	case *sluicev1.Value_Bytes:
		b = protowire.AppendTag(b, fValueBytes, protowire.BytesType)
		return protowire.AppendBytes(b, k.Bytes)
	case *sluicev1.Value_Json:
		b = protowire.AppendTag(b, fValueJSON, protowire.BytesType)
		return protowire.AppendString(b, k.Json)
	}
	return b // no member set: an empty Value, which reads as null
}
