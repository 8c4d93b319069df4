package rowbatch

import "google.golang.org/protobuf/encoding/protowire"

// The loader reads every field of every row through these: one-byte tags, lengths and
// varints (fields 1–15, short values, small numbers: nearly all of a row) are read inline,
// anything else by protowire, with its results and errors.

func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	if len(b) > 0 && b[0] < 0x80 && b[0] >= 1<<3 { // field 0 is protowire's error
		return protowire.Number(b[0] >> 3), protowire.Type(b[0] & 7), 1
	}
	return protowire.ConsumeTag(b)
}

func consumeVarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}

func consumeBytes(b []byte) ([]byte, int) {
	if len(b) > 0 && b[0] < 0x80 && int(b[0]) < len(b) {
		n := int(b[0]) + 1
		return b[1:n], n
	}
	return protowire.ConsumeBytes(b)
}
