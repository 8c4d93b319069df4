package pgload

import (
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// TestDedupeMatchesAMap: many keys of several versions each, in any order, over several
// partitions, keep exactly the newest row per key, as a map of the keys' values says; with
// or without Reserve, and when the survivors are asked for between appends.
func TestDedupeMatchesAMap(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tb := Table{Name: "t", PrimaryKey: []string{"a", "b"}, Columns: []Column{{Name: "a", Type: "bigint"}, {Name: "b", Type: "text"}, {Name: "v", Type: "bigint"}}}
	for _, reserve := range []int{0, 100, 20000} {
		t.Run(strconv.Itoa(reserve), func(t *testing.T) {
			t.Parallel()
			ts, err := NewTuples(tb, at, 0)
			if err != nil {
				t.Fatal(err)
			}
			ts.Reserve(reserve)
			const keys, rows = 3000, 10000
			newest := map[int64]int{}    // key -> position of its newest row
			version := map[int64]int64{} // key -> that row's data version
			for m := range int64(rows / 100) {
				// One message of 100 rows per data version, versions out of order.
				ver := 1 + m*7919%101
				rb := &sluicev1.RowBatch{Table: "t", RecordId: "r", ExtractedAt: timestamppb.New(at), DataVersion: ver, Columns: []string{"a", "b", "v"}}
				for i := range int64(100) {
					k := (m*100 + i) * 7 % keys
					rb.Rows = append(rb.Rows, &sluicev1.Row{Values: []*sluicev1.Value{vInt(k % 10), vStr("k" + strconv.FormatInt(k/10, 10)), vInt(m)}})
				}
				b := parseBatch(t, rb)
				bind, _ := tb.Bind(b.Columns)
				if reserve == 100 {
					ts.LiveLen() // resolve now, and again after the next appends
				}
				for i, r := range b.Rows {
					pos, err := ts.Append(b, bind, r)
					if err != nil {
						t.Fatal(err)
					}
					k := (m*100 + int64(i)) * 7 % keys
					if v, ok := version[k]; !ok || ver >= v {
						newest[k], version[k] = pos, ver
					}
				}
			}
			if ts.LiveLen() != len(newest) {
				t.Fatalf("%d keys, want %d", ts.LiveLen(), len(newest))
			}
			live := map[int]bool{}
			for _, i := range ts.Live() {
				live[i] = true
			}
			for k, pos := range newest {
				if !live[pos] {
					t.Fatalf("key %d: row %d is not live", k, pos)
				}
			}
		})
	}
}
