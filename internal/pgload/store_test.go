package pgload

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// TestTuplesSurviveChunkBoundaries: rows encoded in place at the end of a chunk, moved to
// the next when they outgrow it, bigger than a chunk, or refused halfway, leave every
// stored tuple as a batch of that row alone encodes it.
func TestTuplesSurviveChunkBoundaries(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tb := Table{Name: "t", PrimaryKey: []string{"k"}, Columns: []Column{{Name: "k", Type: "bigint"}, {Name: "s", Type: "text"}, {Name: "n", Type: "numeric"}}}
	rb := &sluicev1.RowBatch{Table: "t", RecordId: "r", ExtractedAt: timestamppb.New(at), Columns: []string{"k", "s", "n"}}
	for i := range int64(30000) {
		s := strings.Repeat("x", int(i*7919%300))
		switch i {
		case 9000:
			s = strings.Repeat("y", chunkBytes+5) // bigger than a chunk
		case 9001:
			s = "\x00" // refused after the key was encoded
		}
		rb.Rows = append(rb.Rows, &sluicev1.Row{Values: []*sluicev1.Value{vInt(i), vStr(s), {Kind: &sluicev1.Value_Decimal{Decimal: "1.50"}}}})
	}
	b := parseBatch(t, rb)
	bind, _ := tb.Bind(b.Columns)
	ts, err := NewTuples(tb, at, 0)
	if err != nil {
		t.Fatal(err)
	}
	var rows []int
	for r, row := range b.Rows {
		if _, err := ts.Append(b, bind, row); err == nil {
			rows = append(rows, r)
		} else if r != 9001 {
			t.Fatalf("row %d: %v", r, err)
		}
	}
	if len(ts.chunks) < 3 {
		t.Fatalf("%d chunks: the test crosses no boundary", len(ts.chunks))
	}
	for i, r := range rows {
		// Rows next to a chunk boundary, and a sample of the others.
		near := i%97 == 0
		for j := max(0, i-1); j <= min(len(rows)-1, i+1); j++ {
			near = near || j > 0 && ts.refs[j].chunk != ts.refs[j-1].chunk
		}
		if !near {
			continue
		}
		one, _ := NewTuples(tb, at, 0)
		if _, err := one.Append(b, bind, b.Rows[r]); err != nil {
			t.Fatal(err)
		}
		if got, want := ts.appendTuple(nil, i), one.appendTuple(nil, 0); !bytes.Equal(got, want) {
			t.Fatalf("row %d: tuple differs from the row encoded alone", r)
		}
		if !bytes.Equal(ts.keyOf(i), one.keyOf(0)) {
			t.Fatalf("row %d: key differs", r)
		}
	}
}
