package rowbatch

import (
	"bytes"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// testRows covers every Value kind, zero values that proto3 still encodes inside a oneof,
// and a row with no values.
func testRows() []*sluicev1.Row {
	return []*sluicev1.Row{
		{Index: 0, Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Int{Int: 0}}, {Kind: &sluicev1.Value_Int{Int: math.MinInt64}}, {Kind: &sluicev1.Value_String_{}}}},
		{Index: 1, Values: []*sluicev1.Value{{Kind: &sluicev1.Value_String_{String_: "grüße"}}, {Kind: &sluicev1.Value_Float{Float: -0.5}}, {Kind: &sluicev1.Value_Float{}}}},
		{Index: 2, Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Null{Null: true}}, {Kind: &sluicev1.Value_Bool{}}, {Kind: &sluicev1.Value_Bool{Bool: true}}}},
		{Index: 1 << 40, Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Timestamp{Timestamp: timestamppb.New(time.Unix(-5, 7))}},
			{Kind: &sluicev1.Value_Timestamp{Timestamp: timestamppb.New(time.Unix(0, 0))}}, {Kind: &sluicev1.Value_Timestamp{}}}},
		{Index: 3, Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Decimal{Decimal: "14.50"}}, {Kind: &sluicev1.Value_Bytes{Bytes: []byte{0, 1}}}, {Kind: &sluicev1.Value_Json{Json: `{"a":1}`}}, {}}},
		{Index: 4},
	}
}

func TestEncoderMatchesProtoMarshal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		head *sluicev1.RowBatch
		part int32
	}{
		{"full header", &sluicev1.RowBatch{Table: "t", Provider: "p", Dataset: "d", SpecVersion: 2, RecordId: "r", TraceId: "x",
			ExtractedAt: timestamppb.New(time.Unix(1700000000, 5)), Columns: []string{"a", "b", "c"}, DataVersion: 1700000000123456789}, 3},
		{"first part, no data version", &sluicev1.RowBatch{Table: "t", RecordId: "r", Columns: []string{"a"}}, 0},
		{"negative data version", &sluicev1.RowBatch{Table: "t", DataVersion: -1}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			enc, err := NewEncoder(c.head)
			if err != nil {
				t.Fatal(err)
			}
			want := proto.Clone(c.head).(*sluicev1.RowBatch)
			want.Part = c.part
			for _, r := range testRows() {
				enc.Add(r)
				want.Rows = append(want.Rows, r)
			}
			if first, last := enc.Span(); first != 0 || last != 4 || enc.Rows() != len(want.Rows) {
				t.Errorf("span %d-%d of %d rows", first, last, enc.Rows())
			}
			got, err := proto.Marshal(enc.Flush(c.part))
			if err != nil {
				t.Fatal(err)
			}
			wantBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wantBytes) {
				t.Errorf("encoder differs from proto.Marshal:\n got %x\nwant %x", got, wantBytes)
			}
			back := &sluicev1.RowBatch{}
			if err := proto.Unmarshal(got, back); err != nil || !proto.Equal(back, want) {
				t.Errorf("unmarshalled %v (%v), want %v", back, err, want)
			}
			b, err := Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if b.Table != want.Table || b.RecordID != want.RecordId || b.Part != want.Part || b.DataVersion != want.DataVersion ||
				b.SpecVersion != want.SpecVersion || len(b.Rows) != len(want.Rows) {
				t.Errorf("parsed header %+v, want %v", b, want)
			}
			// A second batch from the same encoder starts afresh.
			enc.Add(&sluicev1.Row{Index: 9})
			if first, last := enc.Span(); first != 9 || last != 9 || enc.Rows() != 1 {
				t.Errorf("second batch span %d-%d of %d rows", first, last, enc.Rows())
			}
		})
	}
}

func TestSingleRowIsTheBatchWithThatRowAlone(t *testing.T) {
	t.Parallel()
	full := &sluicev1.RowBatch{Table: "t", Provider: "p", Dataset: "d", SpecVersion: 2, RecordId: "r", TraceId: "x",
		ExtractedAt: timestamppb.New(time.Unix(1700000000, 5000)), Columns: []string{"a", "b", "c"}, Part: 4, DataVersion: 77, Rows: testRows()}
	data, err := proto.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := SingleRow(b, b.Rows[1])
	if err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(full).(*sluicev1.RowBatch)
	want.Rows = want.Rows[1:2]
	back := &sluicev1.RowBatch{}
	if err := proto.Unmarshal(got, back); err != nil || !proto.Equal(back, want) {
		t.Errorf("single row batch %v (%v), want %v", back, err, want)
	}
}

// TestFieldNumbersMatchTheProto keeps the hand-written codec tied to the .proto file.
func TestFieldNumbersMatchTheProto(t *testing.T) {
	t.Parallel()
	fields := func(m proto.Message) protoreflect.FieldDescriptors { return m.ProtoReflect().Descriptor().Fields() }
	cases := []struct {
		msg  proto.Message
		name protoreflect.Name
		num  protowire.Number
	}{
		{&sluicev1.RowBatch{}, "table", fBatchTable},
		{&sluicev1.RowBatch{}, "provider", fBatchProvider},
		{&sluicev1.RowBatch{}, "dataset", fBatchDataset},
		{&sluicev1.RowBatch{}, "spec_version", fBatchSpecVersion},
		{&sluicev1.RowBatch{}, "record_id", fBatchRecordID},
		{&sluicev1.RowBatch{}, "trace_id", fBatchTraceID},
		{&sluicev1.RowBatch{}, "extracted_at", fBatchExtractedAt},
		{&sluicev1.RowBatch{}, "columns", fBatchColumns},
		{&sluicev1.RowBatch{}, "rows", fBatchRows},
		{&sluicev1.RowBatch{}, "part", fBatchPart},
		{&sluicev1.RowBatch{}, "data_version", fBatchDataVersion},
		{&sluicev1.Row{}, "values", fRowValues},
		{&sluicev1.Row{}, "index", fRowIndex},
		{&sluicev1.Value{}, "null", fValueNull},
		{&sluicev1.Value{}, "string", fValueString},
		{&sluicev1.Value{}, "int", fValueInt},
		{&sluicev1.Value{}, "float", fValueFloat},
		{&sluicev1.Value{}, "bool", fValueBool},
		{&sluicev1.Value{}, "timestamp", fValueTimestamp},
		{&sluicev1.Value{}, "decimal", fValueDecimal},
		{&sluicev1.Value{}, "bytes", fValueBytes},
		{&sluicev1.Value{}, "json", fValueJSON},
		{&timestamppb.Timestamp{}, "seconds", fTimestampSeconds},
		{&timestamppb.Timestamp{}, "nanos", fTimestampNanos},
	}
	for _, c := range cases {
		fd := fields(c.msg).ByName(c.name)
		if fd == nil || fd.Number() != c.num {
			t.Errorf("%s.%s: codec uses %d, proto says %v", c.msg.ProtoReflect().Descriptor().FullName(), c.name, c.num, fd)
		}
	}
}

// FuzzParse checks the zero-copy decoder against proto.Unmarshal on arbitrary bytes: it
// never panics, and whatever both accept, they read alike.
func FuzzParse(f *testing.F) {
	seed, _ := proto.Marshal(&sluicev1.RowBatch{Table: "t", Columns: []string{"id"}, ExtractedAt: timestamppb.Now(), Part: 2, DataVersion: 5, Rows: testRows()})
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse(data)
		if err != nil {
			return
		}
		var vals [][]byte
		for _, r := range b.Rows {
			vals, _, err = r.Values(vals[:0])
			if err != nil {
				continue
			}
			for _, v := range vals {
				_, _ = DecodeValue(v)
			}
		}
		want := &sluicev1.RowBatch{}
		if err := proto.Unmarshal(data, want); err != nil {
			return // Parse is lenient where it does not look (e.g. invalid UTF-8 in strings)
		}
		if b.Table != want.GetTable() || b.RecordID != want.GetRecordId() || b.SpecVersion != want.GetSpecVersion() ||
			b.Part != want.GetPart() || b.DataVersion != want.GetDataVersion() || len(b.Rows) != len(want.GetRows()) || len(b.Columns) != len(want.GetColumns()) {
			t.Fatalf("Parse %+v disagrees with proto.Unmarshal %v", b, want)
		}
		for i, r := range b.Rows {
			_, idx, err := r.Values(nil)
			if err == nil && idx != want.GetRows()[i].GetIndex() {
				t.Fatalf("row %d: index %d, proto says %d", i, idx, want.GetRows()[i].GetIndex())
			}
		}
	})
}

func BenchmarkEncoderAdd(b *testing.B) {
	r := &sluicev1.Row{Index: 17, Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Int{Int: 1234567}}, {Kind: &sluicev1.Value_String_{String_: "Campaign 1 - Brand Exact"}},
		{Kind: &sluicev1.Value_Timestamp{Timestamp: timestamppb.Now()}}, {Kind: &sluicev1.Value_Decimal{Decimal: "12.34"}}, {Kind: &sluicev1.Value_Float{Float: 0.0123}}}}
	enc, err := NewEncoder(&sluicev1.RowBatch{Table: "t", RecordId: "r", Columns: []string{"a", "b", "c", "d", "e"}})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		enc.Add(r)
		if i%500 == 499 {
			enc.Flush(0)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	rb := &sluicev1.RowBatch{Table: "t", RecordId: "r", Columns: []string{"a", "b"}}
	for i := range 500 {
		rb.Rows = append(rb.Rows, &sluicev1.Row{Index: int64(i), Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Int{Int: int64(i)}}, {Kind: &sluicev1.Value_String_{String_: "name"}}}})
	}
	data, err := proto.Marshal(rb)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
