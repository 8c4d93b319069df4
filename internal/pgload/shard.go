package pgload

// Shards splits the rows that survived deduplication (Live) into at most n sets of
// consecutive rows, of nearly equal size. Each key has exactly one live row, so the sets
// partition the batch's keys: they can be loaded by concurrent transactions that never
// touch the same key (none waits on another's row locks), and a refused row's older
// versions (Older) belong to the set of its live row, so the freshness guard and the
// fallback work within each set exactly as over the whole. Consecutive rows, rather than
// a hash of the key, keep each transaction's index inserts in its own part of the
// primary key's B-tree (a batch is whole records, and a record's rows are near each other
// in key order) instead of every transaction contending for the same pages.
func (ts *Tuples) Shards(n int) [][]int {
	live := ts.Live()
	n = max(1, min(n, len(live)))
	out := make([][]int, 0, n)
	for i := range n {
		out = append(out, live[i*len(live)/n:(i+1)*len(live)/n])
	}
	return out
}
