package pgload

import (
	"hash/maphash"
	"slices"
)

// shardSeed is fixed per process: shards only have to agree within one batch.
var shardSeed = maphash.MakeSeed()

// Shards splits the rows that survived deduplication (Live) into at most n sets by a hash
// of their primary key, each in row order. Every version of a key falls in the same set,
// so the sets can be loaded by concurrent transactions that never touch the same key:
// none waits on another's row locks, and the freshness guard and Older's fallback work
// within each set exactly as over the whole.
func (ts *Tuples) Shards(n int) [][]int {
	if n <= 1 || len(ts.keys) < 2 {
		return [][]int{ts.Live()}
	}
	n = min(n, len(ts.keys))
	out := make([][]int, n)
	for i := range out {
		out[i] = make([]int, 0, len(ts.keys)/n+len(ts.keys)/(4*n)+1)
	}
	for key, live := range ts.keys {
		s := maphash.String(shardSeed, key) % uint64(n)
		out[s] = append(out[s], live)
	}
	for _, s := range out {
		slices.Sort(s)
	}
	return slices.DeleteFunc(out, func(s []int) bool { return len(s) == 0 })
}
