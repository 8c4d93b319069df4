package rowbatch

import (
	"errors"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

func TestParseReadsTheHeaderAndKeepsRowsEncoded(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 2, 3, 4, 5, 6, 7000, time.UTC)
	rb := &sluicev1.RowBatch{Table: "t", Provider: "p", Dataset: "d", SpecVersion: 3, RecordId: "r", TraceId: "tr",
		ExtractedAt: timestamppb.New(at), Columns: []string{"a", "b"}, Part: 2,
		Rows: []*sluicev1.Row{{Index: 7, Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Int{Int: -1}}, {}}}, {Index: 9}}}
	data, err := proto.Marshal(rb)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if b.Table != "t" || b.Provider != "p" || b.Dataset != "d" || b.SpecVersion != 3 || b.RecordID != "r" || b.TraceID != "tr" ||
		!b.ExtractedAt.Equal(at) || len(b.Columns) != 2 || b.Columns[1] != "b" || b.Part != 2 || len(b.Rows) != 2 {
		t.Fatalf("header %+v", b)
	}
	vals, idx, err := b.Rows[0].Values(nil)
	if err != nil || idx != 7 || len(vals) != 2 {
		t.Fatalf("row 0: %d values, index %d, %v", len(vals), idx, err)
	}
	if b.Rows[1].Index() != 9 {
		t.Errorf("row 1 index %d", b.Rows[1].Index())
	}
}

func TestDecodeValue(t *testing.T) {
	t.Parallel()
	at := time.Date(1969, 12, 31, 23, 59, 59, 500, time.UTC)
	cases := []struct {
		name string
		in   *sluicev1.Value
		want Value
	}{
		{"unset is null", &sluicev1.Value{}, Value{Kind: KindNull}},
		{"null", &sluicev1.Value{Kind: &sluicev1.Value_Null{Null: true}}, Value{Kind: KindNull}},
		{"string", &sluicev1.Value{Kind: &sluicev1.Value_String_{String_: "é"}}, Value{Kind: KindString, Raw: []byte("é")}},
		{"empty string", &sluicev1.Value{Kind: &sluicev1.Value_String_{}}, Value{Kind: KindString}},
		{"negative int", &sluicev1.Value{Kind: &sluicev1.Value_Int{Int: math.MinInt64}}, Value{Kind: KindInt, Num: 1 << 63}},
		{"float", &sluicev1.Value{Kind: &sluicev1.Value_Float{Float: 1.5}}, Value{Kind: KindFloat, Num: math.Float64bits(1.5)}},
		{"false", &sluicev1.Value{Kind: &sluicev1.Value_Bool{}}, Value{Kind: KindBool}},
		{"timestamp before 1970", &sluicev1.Value{Kind: &sluicev1.Value_Timestamp{Timestamp: timestamppb.New(at)}}, Value{Kind: KindTimestamp, Sec: -1, Nsec: 500}},
		{"decimal", &sluicev1.Value{Kind: &sluicev1.Value_Decimal{Decimal: "1.50"}}, Value{Kind: KindDecimal, Raw: []byte("1.50")}},
		{"json", &sluicev1.Value{Kind: &sluicev1.Value_Json{Json: "{}"}}, Value{Kind: KindJSON, Raw: []byte("{}")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			data, err := proto.Marshal(c.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeValue(data)
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != c.want.Kind || got.Num != c.want.Num || got.Sec != c.want.Sec || got.Nsec != c.want.Nsec || string(got.Raw) != string(c.want.Raw) {
				t.Errorf("decodeValue = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestParseRejectsTruncatedInput(t *testing.T) {
	t.Parallel()
	data, _ := proto.Marshal(&sluicev1.RowBatch{Table: "table", Rows: []*sluicev1.Row{{Index: 1}}})
	for n := 1; n < len(data); n++ {
		if _, err := Parse(data[:n]); err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse of %d bytes: %v does not wrap ErrMalformed", n, err)
		}
	}
	if _, err := Parse([]byte{0x0a, 0x05, 'a'}); !errors.Is(err, ErrMalformed) {
		t.Errorf("a string longer than the message: %v", err)
	}
}
