package pgload

import (
	"bytes"
	"hash/maphash"
)

// keyIndex finds the live row of a primary key in a batch. It replaced a map[string]int,
// which cost a string allocation per row and, holding a pointer per key, garbage collector
// work and write barriers: its slots hold no pointers, and the keys themselves are stored
// with their tuples (see Tuples.store). Open addressing with linear probing over a power of
// two slots, at most 3/4 full; a key is compared byte for byte only when 32 further bits of
// its hash match, so a new key almost never costs a look at another row's key.
type keyIndex struct {
	seed  maphash.Seed
	slots []keySlot
	n     int // keys held
}

type keySlot struct {
	tag uint32 // the key hash's high 32 bits
	pos int32  // position of the key's live row plus one; 0 for an empty slot
}

// minIndexSlots is the smallest table, for batches nobody reserved room for.
const minIndexSlots = 64

func newKeyIndex() keyIndex { return keyIndex{seed: maphash.MakeSeed()} }

// indexSlots is the table size that holds keys without growing.
func indexSlots(keys int) int {
	n := minIndexSlots
	for n*3/4 <= keys {
		n *= 2
	}
	return n
}

// slot returns the slot of key, whose hash is h: the one holding it, or the empty one
// where it goes. There is always an empty slot (see reserveKey).
func (ts *Tuples) slot(key []byte, h uint64) int {
	slots := ts.index.slots
	mask := len(slots) - 1
	tag := uint32(h >> 32)
	for i := int(h) & mask; ; i = (i + 1) & mask {
		s := slots[i]
		if s.pos == 0 || s.tag == tag && bytes.Equal(ts.keyOf(int(s.pos-1)), key) {
			return i
		}
	}
}

// reserveKey makes room for one more key, so that the slot found next can take it.
func (ts *Tuples) reserveKey() {
	ix := &ts.index
	if ix.n < len(ix.slots)*3/4 {
		return
	}
	old := ix.slots
	ix.slots = make([]keySlot, indexSlots(ix.n+1))
	for _, s := range old {
		if s.pos != 0 {
			key := ts.keyOf(int(s.pos - 1))
			h := maphash.Bytes(ix.seed, key)
			ix.slots[ts.slot(key, h)] = keySlot{tag: uint32(h >> 32), pos: s.pos}
		}
	}
}
