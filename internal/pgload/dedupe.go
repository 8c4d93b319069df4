package pgload

import (
	"bytes"
	"hash/maphash"
)

// Deduplication is deferred until the survivors are asked for (Live, LiveLen, Older):
// Append only stores each row's key (after its tuple, see store) and a hash of it. A hash
// table over a whole batch (a map[string]int, before) costs a cache miss per row, a string
// allocation per key, and the garbage collector's work on a pointer per key. Instead,
// dedupe partitions the rows by their hash's top bits into sets small enough for their
// table to stay in cache, and resolves each set in row order: a key's rows all fall in one
// set, met in the order they were appended, so the outcome is exactly that of resolving
// them one by one as they came.

// keySlot is a slot of the per-partition hash table.
type keySlot struct {
	tag uint32 // further bits of the key's hash, to compare keys only when they match
	pos int32  // position of the key's live row plus one; 0 for an empty slot
}

// partitionRows is about how many rows one partition holds: its table (two slots a row,
// 8 bytes a slot) then fits a core's L2 cache.
const partitionRows = 4096

// dedupe resolves the rows appended since the last call: which row of each key is live,
// and the chain of the key's older versions. Appends after a call resolve everything
// again (the outcome depends only on the rows, in order). Once resolved it only reads, so
// the loader's shards may call Older concurrently after Shards.
func (ts *Tuples) dedupe() {
	n := len(ts.refs)
	if ts.resolved == n {
		return
	}
	ts.resolved = n
	ts.live = ts.live[:0]
	ts.older = ts.older[:0]
	for range n {
		ts.live = append(ts.live, true)
		ts.older = append(ts.older, -1)
	}
	ts.liveN = 0
	bits := 0
	for n>>bits > partitionRows && bits < 16 {
		bits++
	}
	// Counting sort of row positions by partition, stable: each partition in row order.
	start := make([]int32, 1<<bits+1)
	part := func(h uint64) uint64 { return h >> (64 - bits) & (1<<bits - 1) } // bits 0: all in 0
	for _, h := range ts.hashes {
		start[part(h)+1]++
	}
	largest := int32(0)
	for p := range 1 << bits {
		largest = max(largest, start[p+1])
		start[p+1] += start[p]
	}
	order := make([]int32, n)
	next := append([]int32(nil), start[:1<<bits]...)
	for i, h := range ts.hashes {
		p := part(h)
		order[next[p]] = int32(i)
		next[p]++
	}
	slots := make([]keySlot, tableSlots(int(largest)))
	for p := range 1 << bits {
		rows := order[start[p]:start[p+1]]
		table := slots[:tableSlots(len(rows))]
		clear(table)
		for _, i := range rows {
			ts.resolve(table, int(i))
		}
	}
}

// tableSlots is a power of two at least twice rows.
func tableSlots(rows int) int {
	n := 16
	for n < 2*rows {
		n *= 2
	}
	return n
}

// resolve adds row idx to the versions of its key: the newest data (data version, then
// extraction time, then the later row on ties) is live, and the others chain from it by
// freshness.
func (ts *Tuples) resolve(table []keySlot, idx int) {
	h := ts.hashes[idx]
	mask := len(table) - 1
	tag := uint32(h >> 16)
	i := int(h) & mask
	// The row's key is read (from memory likely out of cache) only when a tag matches.
	var key []byte
	for ; table[i].pos != 0; i = (i + 1) & mask {
		if table[i].tag != tag {
			continue
		}
		if key == nil {
			key = ts.keyOf(idx)
		}
		if bytes.Equal(ts.keyOf(int(table[i].pos-1)), key) {
			break
		}
	}
	slot := &table[i]
	if slot.pos == 0 {
		*slot = keySlot{tag: tag, pos: int32(idx + 1)}
		ts.liveN++
		return
	}
	cur := ts.lineage[ts.refs[idx].lineage]
	prev := int(slot.pos - 1)
	if !ts.lineage[ts.refs[prev].lineage].newer(cur) {
		ts.live[prev] = false
		slot.pos = int32(idx + 1)
		ts.older[idx] = int32(prev)
		return
	}
	// Keep the chain ordered: after every version newer than this one.
	ts.live[idx] = false
	p := prev
	for q := ts.older[p]; q >= 0 && ts.lineage[ts.refs[q].lineage].newer(cur); q = ts.older[q] {
		p = int(q)
	}
	ts.older[idx], ts.older[p] = ts.older[p], int32(idx)
}

// hashKey hashes a row's key for dedupe.
func (ts *Tuples) hashKey(key []byte) uint64 { return maphash.Bytes(ts.seed, key) }
