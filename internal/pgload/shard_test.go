package pgload

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// TestShardsPartitionLiveRowsByKey checks that the shards hold every live row once, in
// row order, and that each key, whatever its number of versions, lives in one shard only.
func TestShardsPartitionLiveRowsByKey(t *testing.T) {
	t.Parallel()
	tb := Table{Name: "items", Columns: []Column{{"id", "bigint"}, {"name", "text"}}, PrimaryKey: []string{"id"}}
	ts, err := NewTuples(tb, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	keyOf := map[int]int64{}
	// Three records; each repeats some keys of the one before, with a later extraction.
	for rec := range 3 {
		rb := &sluicev1.RowBatch{Table: "items", RecordId: "r" + string(rune('a'+rec)), ExtractedAt: timestamppb.New(base.Add(time.Duration(rec) * time.Hour)), Columns: []string{"id", "name"}}
		for i := range 500 {
			id := int64(rec*300 + i)
			rb.Rows = append(rb.Rows, &sluicev1.Row{Index: int64(i), Values: []*sluicev1.Value{{Kind: &sluicev1.Value_Int{Int: id}}, {Kind: &sluicev1.Value_String_{String_: "x"}}}})
		}
		b := parseBatch(t, rb)
		bind, err := tb.Bind(b.Columns)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range b.Rows {
			idx, err := ts.Append(b, bind, r)
			if err != nil {
				t.Fatal(err)
			}
			keyOf[idx] = int64(rec*300 + i)
		}
	}
	for _, n := range []int{1, 2, 4, 7} {
		shards := ts.Shards(n)
		if len(shards) > n || len(shards) == 0 {
			t.Fatalf("n=%d: %d shards", n, len(shards))
		}
		var all []int
		shardOfKey := map[int64]int{}
		for s, rows := range shards {
			if !slices.IsSorted(rows) {
				t.Errorf("n=%d: shard %d not in row order", n, s)
			}
			for _, r := range rows {
				shardOfKey[keyOf[r]] = s
				// Every older version of the key is in the same shard's chain: it is
				// reached from the live row only.
				for o := ts.Older(r); o >= 0; o = ts.Older(o) {
					if keyOf[o] != keyOf[r] {
						t.Fatalf("n=%d: row %d chains to row %d of another key", n, r, o)
					}
				}
			}
			all = append(all, rows...)
		}
		slices.Sort(all)
		if !slices.Equal(all, ts.Live()) {
			t.Errorf("n=%d: shards hold %d rows, live rows are %d", n, len(all), len(ts.Live()))
		}
		if len(shardOfKey) != len(ts.Live()) {
			t.Errorf("n=%d: %d keys for %d live rows: a key is live twice", n, len(shardOfKey), len(ts.Live()))
		}
		if len(shards) != n {
			t.Errorf("n=%d: %d shards of 1100 keys", n, len(shards))
		}
		for s, rows := range shards {
			if d := len(rows) - len(all)/n; d < -1 || d > 1 {
				t.Errorf("n=%d: shard %d holds %d of %d rows", n, s, len(rows), len(all))
			}
		}
	}
}
