package main

import (
	"testing"
)

// TestBatchIDNamesRowsNotConfiguration: a record transformed with one batch size and
// redelivered with another is cut at other places. Every batch of the second delivery
// that holds rows the first delivery did not publish must get an id the first delivery
// did not use, or JetStream drops it as a duplicate and its rows are lost. With
// part-numbered ids (`rec:v1:1`) the second delivery's part 1 deduped against the first
// delivery's part 1 although it held other rows.
func TestBatchIDNamesRowsNotConfiguration(t *testing.T) {
	t.Parallel()
	const rows = 100
	cases := []struct {
		name          string
		before, after int // rows per batch
		published     int // batches of the first delivery published before the crash
	}{
		{"smaller batches after", 40, 15, 2},
		{"larger batches after", 10, 35, 3},
		{"same batches", 25, 25, 2},
		{"one row per batch after", 50, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			seen := map[string][2]int64{} // id → rows it holds, what the dedupe window remembers
			delivered := map[int64]bool{}
			deliver := func(size, batches int) {
				for b, first := 0, int64(0); b < batches && first < rows; b, first = b+1, first+int64(size) {
					last := min(first+int64(size), rows) - 1
					id := batchID("rec", 1, first, last, "")
					if span, dup := seen[id]; dup {
						if span != [2]int64{first, last} {
							t.Fatalf("id %s names rows %d-%d and %d-%d", id, span[0], span[1], first, last)
						}
						continue // deduped: these rows arrived with the earlier message
					}
					seen[id] = [2]int64{first, last}
					for r := first; r <= last; r++ {
						delivered[r] = true
					}
				}
			}
			deliver(c.before, c.published)
			deliver(c.after, rows)
			for r := int64(0); r < rows; r++ {
				if !delivered[r] {
					t.Fatalf("row %d never published", r)
				}
			}
		})
	}
}

func TestBatchID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		version     int64
		first, last int64
		replay      string
		want        string
	}{
		{"first delivery", 3, 0, 499, "", "rec:v3:rows=0-499"},
		{"one row", 3, 7, 7, "", "rec:v3:rows=7-7"},
		{"replay", 3, 500, 999, "r1", "rec:v3:rows=500-999:replay:r1"},
		{"new spec version", 4, 0, 499, "", "rec:v4:rows=0-499"},
	}
	for _, c := range cases {
		if got := batchID("rec", c.version, c.first, c.last, c.replay); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
