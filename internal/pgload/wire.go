package pgload

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Batch is a RowBatch message (proto/sluice/v1) read without unmarshalling its rows: the
// header fields are decoded and each row stays a slice of the message bytes, so a batch
// costs no more memory than the message itself and its rows are decoded one at a time,
// straight into the COPY encoding.
type Batch struct {
	Table       string
	Provider    string
	Dataset     string
	SpecVersion int64
	RecordID    string
	TraceID     string
	ExtractedAt time.Time
	Columns     []string
	Part        int32
	// Rows are encoded sluice.v1.Row messages, in order.
	Rows []WireRow
}

// WireRow is one encoded sluice.v1.Row.
type WireRow []byte

// Field numbers of sluice.v1.RowBatch, Row, Value and google.protobuf.Timestamp.
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
)

// ErrMalformed is wrapped by every error about bytes that are not a valid message.
var ErrMalformed = errors.New("malformed row batch")

func malformed(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

// ParseBatch reads a RowBatch; the returned rows alias data.
func ParseBatch(data []byte) (*Batch, error) {
	b := &Batch{}
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return nil, malformed("bad tag")
		}
		data = data[n:]
		switch {
		case typ == protowire.BytesType && num <= fBatchColumns && num != fBatchSpecVersion:
			v, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return nil, malformed(fmt.Sprintf("field %d", num))
			}
			data = data[n:]
			switch num {
			case fBatchTable:
				b.Table = string(v)
			case fBatchProvider:
				b.Provider = string(v)
			case fBatchDataset:
				b.Dataset = string(v)
			case fBatchRecordID:
				b.RecordID = string(v)
			case fBatchTraceID:
				b.TraceID = string(v)
			case fBatchExtractedAt:
				t, err := parseTimestamp(v)
				if err != nil {
					return nil, err
				}
				b.ExtractedAt = t
			case fBatchColumns:
				b.Columns = append(b.Columns, string(v))
			}
		case typ == protowire.BytesType && num == fBatchRows:
			v, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return nil, malformed("rows")
			}
			data = data[n:]
			b.Rows = append(b.Rows, WireRow(v))
		case typ == protowire.VarintType && (num == fBatchSpecVersion || num == fBatchPart):
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return nil, malformed(fmt.Sprintf("field %d", num))
			}
			data = data[n:]
			if num == fBatchSpecVersion {
				b.SpecVersion = int64(v)
			} else {
				b.Part = int32(v)
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, data)
			if n < 0 {
				return nil, malformed(fmt.Sprintf("field %d", num))
			}
			data = data[n:]
		}
	}
	return b, nil
}

// parseTimestamp decodes a google.protobuf.Timestamp.
func parseTimestamp(data []byte) (time.Time, error) {
	var sec, nsec int64
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return time.Time{}, malformed("timestamp tag")
		}
		data = data[n:]
		if typ == protowire.VarintType && (num == 1 || num == 2) {
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return time.Time{}, malformed("timestamp")
			}
			data = data[n:]
			if num == 1 {
				sec = int64(v)
			} else {
				nsec = int64(int32(v))
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, data)
		if n < 0 {
			return time.Time{}, malformed("timestamp field")
		}
		data = data[n:]
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// Values appends the encoded sluice.v1.Value of every column of r to buf and returns it
// with the row's index.
func (r WireRow) Values(buf [][]byte) ([][]byte, int64, error) {
	var index int64
	data := []byte(r)
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return buf, index, malformed("row tag")
		}
		data = data[n:]
		switch {
		case num == fRowValues && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return buf, index, malformed("row value")
			}
			data = data[n:]
			buf = append(buf, v)
		case num == fRowIndex && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return buf, index, malformed("row index")
			}
			data = data[n:]
			index = int64(v)
		default:
			n := protowire.ConsumeFieldValue(num, typ, data)
			if n < 0 {
				return buf, index, malformed("row field")
			}
			data = data[n:]
		}
	}
	return buf, index, nil
}

// Index returns the row's position in its source record, or -1 when it cannot be read.
func (r WireRow) Index() int64 {
	_, idx, err := r.Values(nil)
	if err != nil {
		return -1
	}
	return idx
}

// Kind is which field of a sluice.v1.Value is set.
type Kind uint8

// The kinds of a Value; KindNull also stands for a Value with no field set.
const (
	KindNull Kind = iota
	KindString
	KindInt
	KindFloat
	KindBool
	KindTimestamp
	KindDecimal
	KindBytes
	KindJSON
)

var kindNames = [...]string{"null", "string", "int", "float", "bool", "timestamp", "decimal", "bytes", "json"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// value is a decoded Value: num holds int, bool (0/1), float bits or unix nanoseconds;
// raw holds string, decimal, bytes and json content.
type value struct {
	kind Kind
	num  uint64
	sec  int64
	nsec int32
	raw  []byte
}

// decodeValue reads an encoded sluice.v1.Value. The last field set wins, as in proto3.
func decodeValue(data []byte) (value, error) {
	v := value{kind: KindNull}
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return v, malformed("value tag")
		}
		data = data[n:]
		switch typ {
		case protowire.VarintType:
			x, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return v, malformed("value varint")
			}
			data = data[n:]
			switch num {
			case fValueNull:
				v = value{kind: KindNull}
			case fValueInt:
				v = value{kind: KindInt, num: x}
			case fValueBool:
				v = value{kind: KindBool, num: min(x, 1)}
			}
		case protowire.Fixed64Type:
			x, n := protowire.ConsumeFixed64(data)
			if n < 0 {
				return v, malformed("value fixed64")
			}
			data = data[n:]
			if num == fValueFloat {
				v = value{kind: KindFloat, num: x}
			}
		case protowire.BytesType:
			x, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return v, malformed("value bytes")
			}
			data = data[n:]
			switch num {
			case fValueString:
				v = value{kind: KindString, raw: x}
			case fValueDecimal:
				v = value{kind: KindDecimal, raw: x}
			case fValueBytes:
				v = value{kind: KindBytes, raw: x}
			case fValueJSON:
				v = value{kind: KindJSON, raw: x}
			case fValueTimestamp:
				t, err := parseTimestamp(x)
				if err != nil {
					return v, err
				}
				v = value{kind: KindTimestamp, sec: t.Unix(), nsec: int32(t.Nanosecond())}
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, data)
			if n < 0 {
				return v, malformed("value field")
			}
			data = data[n:]
		}
	}
	return v, nil
}
