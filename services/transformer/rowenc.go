package main

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// Row batches are encoded as the rows arrive instead of being built as a message and
// marshalled at the end: the encoded size bounds the batch exactly without a proto.Size
// pass per row, and no RowBatch of thousands of rows is held. The bytes are those
// proto.Marshal produces for the same rows (see the test).

// Field numbers of sluice.v1.RowBatch.rows, Row and Value.
const (
	fieldBatchRows = 9
	fieldBatchPart = 10
	fieldRowValues = 1
	fieldRowIndex  = 2
)

// appendRowField appends r as one element of RowBatch.rows; scratch is reused for the
// row's own encoding and returned.
func appendRowField(b, scratch []byte, r *sluicev1.Row) ([]byte, []byte) {
	scratch = appendRow(scratch[:0], r)
	b = protowire.AppendTag(b, fieldBatchRows, protowire.BytesType)
	return protowire.AppendBytes(b, scratch), scratch
}

// appendPart appends RowBatch.part.
func appendPart(b []byte, part int32) []byte {
	if part == 0 {
		return b
	}
	b = protowire.AppendTag(b, fieldBatchPart, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(int64(part)))
}

// encodedRowBatch wraps an encoded RowBatch as a message whose marshalling returns
// exactly those bytes (as unknown fields), so it travels through bus.Batch like any
// other body.
func encodedRowBatch(data []byte) *sluicev1.RowBatch {
	m := &sluicev1.RowBatch{}
	m.ProtoReflect().SetUnknown(protoreflect.RawFields(data))
	return m
}

func appendRow(b []byte, r *sluicev1.Row) []byte {
	var scratch [64]byte
	for _, v := range r.GetValues() {
		b = protowire.AppendTag(b, fieldRowValues, protowire.BytesType)
		enc := appendValue(scratch[:0], v)
		b = protowire.AppendBytes(b, enc)
	}
	if r.GetIndex() != 0 {
		b = protowire.AppendTag(b, fieldRowIndex, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.GetIndex()))
	}
	return b
}

// appendValue encodes a Value: the set member of its oneof, even when zero.
func appendValue(b []byte, v *sluicev1.Value) []byte {
	switch k := v.GetKind().(type) {
	case *sluicev1.Value_Null:
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		return protowire.AppendVarint(b, protowire.EncodeBool(k.Null))
	case *sluicev1.Value_String_:
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		return protowire.AppendString(b, k.String_)
	case *sluicev1.Value_Int:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		return protowire.AppendVarint(b, uint64(k.Int))
	case *sluicev1.Value_Float:
		b = protowire.AppendTag(b, 4, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, math.Float64bits(k.Float))
	case *sluicev1.Value_Bool:
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		return protowire.AppendVarint(b, protowire.EncodeBool(k.Bool))
	case *sluicev1.Value_Timestamp:
		var ts []byte
		if s := k.Timestamp.GetSeconds(); s != 0 {
			ts = protowire.AppendTag(ts, 1, protowire.VarintType)
			ts = protowire.AppendVarint(ts, uint64(s))
		}
		if n := k.Timestamp.GetNanos(); n != 0 {
			ts = protowire.AppendTag(ts, 2, protowire.VarintType)
			ts = protowire.AppendVarint(ts, uint64(int64(n)))
		}
		b = protowire.AppendTag(b, 6, protowire.BytesType)
		return protowire.AppendBytes(b, ts)
	case *sluicev1.Value_Decimal:
		b = protowire.AppendTag(b, 7, protowire.BytesType)
		return protowire.AppendString(b, k.Decimal)
	case *sluicev1.Value_Bytes:
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		return protowire.AppendBytes(b, k.Bytes)
	case *sluicev1.Value_Json:
		b = protowire.AppendTag(b, 9, protowire.BytesType)
		return protowire.AppendString(b, k.Json)
	}
	return b // no member set: an empty Value, which reads as null
}
