package main

import (
	"bytes"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

func TestRowEncodingMatchesProtoMarshal(t *testing.T) {
	t.Parallel()
	rows := []*sluicev1.Row{
		{Index: 0, Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Int{Int: 0}}, {Kind: &sluicev1.Value_Int{Int: math.MinInt64}}, {Kind: &sluicev1.Value_String_{}}}},
		{Index: 1, Values: []*sluicev1.Value{{Kind: &sluicev1.Value_String_{String_: "grüße"}}, {Kind: &sluicev1.Value_Float{Float: -0.5}}, {Kind: &sluicev1.Value_Float{}}}},
		{Index: 2, Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Null{Null: true}}, {Kind: &sluicev1.Value_Bool{}}, {Kind: &sluicev1.Value_Bool{Bool: true}}}},
		{Index: 1 << 40, Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Timestamp{Timestamp: timestamppb.New(time.Unix(-5, 7))}},
			{Kind: &sluicev1.Value_Timestamp{Timestamp: timestamppb.New(time.Unix(0, 0))}}, {Kind: &sluicev1.Value_Timestamp{}}}},
		{Index: 3, Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Decimal{Decimal: "14.50"}}, {Kind: &sluicev1.Value_Bytes{Bytes: []byte{0, 1}}}, {Kind: &sluicev1.Value_Json{Json: `{"a":1}`}}, {}}},
		{Index: 4},
	}
	want := &sluicev1.RowBatch{Table: "t", Provider: "p", Dataset: "d", SpecVersion: 2, RecordId: "r", TraceId: "x",
		ExtractedAt: timestamppb.New(time.Unix(1700000000, 5)), Columns: []string{"a", "b", "c"}, Part: 3}
	head, err := proto.Marshal(&sluicev1.RowBatch{Table: want.Table, Provider: want.Provider, Dataset: want.Dataset, SpecVersion: want.SpecVersion,
		RecordId: want.RecordId, TraceId: want.TraceId, ExtractedAt: want.ExtractedAt, Columns: want.Columns})
	if err != nil {
		t.Fatal(err)
	}
	buf, scratch := head, []byte(nil)
	for _, r := range rows {
		buf, scratch = appendRowField(buf, scratch, r)
		want.Rows = append(want.Rows, r)
	}
	buf = appendPart(buf, want.Part)

	wantBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, wantBytes) {
		t.Errorf("hand encoding differs from proto.Marshal:\n got %x\nwant %x", buf, wantBytes)
	}
	got := &sluicev1.RowBatch{}
	if err := proto.Unmarshal(buf, got); err != nil || !proto.Equal(got, want) {
		t.Errorf("decoded %v (%v), want %v", got, err, want)
	}
	wrapped, err := proto.Marshal(encodedRowBatch(buf))
	if err != nil || !bytes.Equal(wrapped, buf) {
		t.Errorf("the wrapper marshals to other bytes (%v)", err)
	}
}

func BenchmarkAppendRowField(b *testing.B) {
	r := &sluicev1.Row{Index: 17, Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Int{Int: 1234567}}, {Kind: &sluicev1.Value_String_{String_: "Campaign 1 - Brand Exact"}},
		{Kind: &sluicev1.Value_Timestamp{Timestamp: timestamppb.Now()}}, {Kind: &sluicev1.Value_Decimal{Decimal: "12.34"}}, {Kind: &sluicev1.Value_Float{Float: 0.0123}}}}
	var buf, scratch []byte
	for b.Loop() {
		buf, scratch = appendRowField(buf[:0], scratch, r)
	}
}
