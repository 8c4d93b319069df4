package rowbatch

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// The decoders as they were before their fast paths, verbatim: FuzzDecodeMatchesReference
// holds the fast ones to exactly their results, errors included.

func refValues(r WireRow, buf [][]byte) ([][]byte, int64, error) {
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

func refDecodeValue(data []byte) (Value, error) {
	v := Value{Kind: KindNull}
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
				v = Value{Kind: KindNull}
			case fValueInt:
				v = Value{Kind: KindInt, Num: x}
			case fValueBool:
				v = Value{Kind: KindBool, Num: min(x, 1)}
			}
		case protowire.Fixed64Type:
			x, n := protowire.ConsumeFixed64(data)
			if n < 0 {
				return v, malformed("value fixed64")
			}
			data = data[n:]
			if num == fValueFloat {
				v = Value{Kind: KindFloat, Num: x}
			}
		case protowire.BytesType:
			x, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return v, malformed("value bytes")
			}
			data = data[n:]
			switch num {
			case fValueString:
				v = Value{Kind: KindString, Raw: x}
			case fValueDecimal:
				v = Value{Kind: KindDecimal, Raw: x}
			case fValueBytes:
				v = Value{Kind: KindBytes, Raw: x}
			case fValueJSON:
				v = Value{Kind: KindJSON, Raw: x}
			case fValueTimestamp:
				t, err := refParseTimestamp(x)
				if err != nil {
					return v, err
				}
				v = Value{Kind: KindTimestamp, Sec: t.Unix(), Nsec: int32(t.Nanosecond())}
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

func refParseTimestamp(data []byte) (time.Time, error) {
	var sec, nsec int64
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return time.Time{}, malformed("timestamp tag")
		}
		data = data[n:]
		if typ == protowire.VarintType && (num == fTimestampSeconds || num == fTimestampNanos) {
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return time.Time{}, malformed("timestamp")
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
			return time.Time{}, malformed("timestamp field")
		}
		data = data[n:]
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// FuzzDecodeMatchesReference: Values and DecodeValue return what the reference decoders
// return for any bytes.
func FuzzDecodeMatchesReference(f *testing.F) {
	for _, r := range testRows() {
		f.Add([]byte(appendRow(nil, r)))
		for _, v := range r.GetValues() {
			f.Add(appendValue(nil, v))
		}
	}
	f.Add([]byte{0x32, 0x04, 0x08, 0x01, 0x10, 0xff})
	f.Add([]byte{0x32, 0x0b, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x10})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gi, gerr := WireRow(data).Values(nil)
		want, wi, werr := refValues(WireRow(data), nil)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || gi != wi || len(got) != len(want) {
			t.Fatalf("Values: %d values, index %d, %v; want %d, %d, %v", len(got), gi, gerr, len(want), wi, werr)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("value %d: %x, want %x", i, got[i], want[i])
			}
		}
		gv, gerr := DecodeValue(data)
		wv, werr := refDecodeValue(data)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || gv.Kind != wv.Kind || gv.Num != wv.Num || gv.Sec != wv.Sec || gv.Nsec != wv.Nsec ||
			!bytes.Equal(gv.Raw, wv.Raw) || (gv.Raw == nil) != (wv.Raw == nil) {
			t.Fatalf("DecodeValue: %+v, %v; want %+v, %v", gv, gerr, wv, werr)
		}
	})
}
