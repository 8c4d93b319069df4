package pgload

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-dev/sluice/internal/rowbatch"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// FuzzParseAndEncode feeds arbitrary bytes through what the loader does with a ROWS
// message: it must return errors, never panic.
func FuzzParseAndEncode(f *testing.F) {
	seed, _ := proto.Marshal(&sluicev1.RowBatch{Table: "t", Columns: []string{"id", "n", "d"}, ExtractedAt: timestamppb.Now(),
		Rows: []*sluicev1.Row{{Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Int{Int: 1}}, {Kind: &sluicev1.Value_String_{String_: "x"}}, {Kind: &sluicev1.Value_Decimal{Decimal: "1e3"}}}}}})
	f.Add(seed)
	f.Add([]byte{})
	tb := Table{Name: "t", PrimaryKey: []string{"id"}, Columns: []Column{{Name: "id", Type: "bigint"}, {Name: "n", Type: "text"}, {Name: "d", Type: "numeric"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := rowbatch.Parse(data)
		if err != nil {
			return
		}
		bind, err := tb.Bind(b.Columns)
		if err != nil {
			return
		}
		ts, err := NewTuples(tb, time.Now(), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Rows {
			_, _ = ts.Append(b, bind, r)
		}
		_ = ts.Live()
	})
}
