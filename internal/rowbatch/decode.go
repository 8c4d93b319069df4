package rowbatch

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Batch is a RowBatch message (proto/sluice/v1) read without unmarshalling its rows: the
// header fields are decoded and each row stays a slice of the message bytes, so a batch
// costs no more memory than the message itself and its rows are decoded one at a time,
// straight into what the reader needs (pgload: the COPY encoding).
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
	// DataVersion orders versions of the same data (see sluice.v1.Record.data_version);
	// 0 when the source gives none.
	DataVersion int64
	// Rows are encoded sluice.v1.Row messages, in order.
	Rows []WireRow
}

// WireRow is one encoded sluice.v1.Row.
type WireRow []byte

// ErrMalformed is wrapped by every error about bytes that are not a valid message.
var ErrMalformed = errors.New("malformed row batch")

func malformed(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

// Parse reads a RowBatch; the returned rows alias data.
func Parse(data []byte) (*Batch, error) {
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
		case typ == protowire.VarintType && (num == fBatchSpecVersion || num == fBatchPart || num == fBatchDataVersion):
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return nil, malformed(fmt.Sprintf("field %d", num))
			}
			data = data[n:]
			switch num {
			case fBatchSpecVersion:
				b.SpecVersion = int64(v)
			case fBatchPart:
				b.Part = int32(v)
			case fBatchDataVersion:
				b.DataVersion = int64(v)
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
	sec, nsec, err := timestampParts(data)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(sec, int64(nsec)).UTC(), nil
}

// timestampParts decodes a google.protobuf.Timestamp into unix seconds and nanoseconds
// within the second, normalized as time.Unix does (nanos outside [0, 1e9) carry into the
// seconds), without building a time.Time per value.
func timestampParts(data []byte) (int64, int32, error) {
	var sec, nsec int64
	for len(data) > 0 {
		num, typ, n := consumeTag(data)
		if n < 0 {
			return 0, 0, malformed("timestamp tag")
		}
		data = data[n:]
		if typ == protowire.VarintType && (num == fTimestampSeconds || num == fTimestampNanos) {
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return 0, 0, malformed("timestamp")
			}
			data = data[n:]
			if num == fTimestampSeconds {
				sec = int64(v)
			} else {
				nsec = int64(int32(v))
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, data)
		if n < 0 {
			return 0, 0, malformed("timestamp field")
		}
		data = data[n:]
	}
	if nsec < 0 || nsec >= 1e9 {
		carry := nsec / 1e9
		sec += carry
		nsec -= carry * 1e9
		if nsec < 0 {
			nsec += 1e9
			sec--
		}
	}
	return sec, int32(nsec), nil
}

// Values appends the encoded sluice.v1.Value of every column of r to buf and returns it
// with the row's index.
func (r WireRow) Values(buf [][]byte) ([][]byte, int64, error) {
	var index int64
	data := []byte(r)
	for len(data) > 0 {
		num, typ, n := consumeTag(data)
		if n < 0 {
			return buf, index, malformed("row tag")
		}
		data = data[n:]
		switch {
		case num == fRowValues && typ == protowire.BytesType:
			v, n := consumeBytes(data)
			if n < 0 {
				return buf, index, malformed("row value")
			}
			data = data[n:]
			buf = append(buf, v)
		case num == fRowIndex && typ == protowire.VarintType:
			v, n := consumeVarint(data)
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

// Value is a decoded sluice.v1.Value: Num holds an int, a bool (0/1) or float bits, Sec
// and Nsec a timestamp; Raw holds string, decimal, bytes and json content and aliases the
// message.
type Value struct {
	Kind Kind
	Num  uint64
	Sec  int64
	Nsec int32
	Raw  []byte
}

// DecodeValue reads an encoded sluice.v1.Value. The last field set wins, as in proto3.
func DecodeValue(data []byte) (Value, error) {
	var v Value
	err := v.Decode(data)
	return v, err
}

// Decode sets v to the encoded sluice.v1.Value data, as DecodeValue returns it. Decoding
// into a Value the caller keeps, and reading its fields through a pointer, spares a hot
// loop the copies of a returned Value (and the stalls of reading it back whole right
// after its fields were written one by one).
func (v *Value) Decode(data []byte) error {
	*v = Value{Kind: KindNull}
	for len(data) > 0 {
		num, typ, n := consumeTag(data)
		if n < 0 {
			return malformed("value tag")
		}
		data = data[n:]
		switch typ {
		case protowire.VarintType:
			x, n := consumeVarint(data)
			if n < 0 {
				return malformed("value varint")
			}
			data = data[n:]
			switch num {
			case fValueNull:
				*v = Value{Kind: KindNull}
			case fValueInt:
				*v = Value{Kind: KindInt, Num: x}
			case fValueBool:
				*v = Value{Kind: KindBool, Num: min(x, 1)}
			}
		case protowire.Fixed64Type:
			x, n := protowire.ConsumeFixed64(data)
			if n < 0 {
				return malformed("value fixed64")
			}
			data = data[n:]
			if num == fValueFloat {
				*v = Value{Kind: KindFloat, Num: x}
			}
		case protowire.BytesType:
			x, n := consumeBytes(data)
			if n < 0 {
				return malformed("value bytes")
			}
			data = data[n:]
			switch num {
			case fValueString:
				*v = Value{Kind: KindString, Raw: x}
			case fValueDecimal:
				*v = Value{Kind: KindDecimal, Raw: x}
			case fValueBytes:
				*v = Value{Kind: KindBytes, Raw: x}
			case fValueJSON:
				*v = Value{Kind: KindJSON, Raw: x}
			case fValueTimestamp:
				sec, nsec, err := timestampParts(x)
				if err != nil {
					return err
				}
				*v = Value{Kind: KindTimestamp, Sec: sec, Nsec: nsec}
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, data)
			if n < 0 {
				return malformed("value field")
			}
			data = data[n:]
		}
	}
	return nil
}
