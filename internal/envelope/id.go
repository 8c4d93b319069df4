// Package envelope builds and checks the Record envelopes that carry raw payloads between
// sluice services, and derives their deterministic ids.
package envelope

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
)

// idVersion is mixed into every record id so that a future change of derivation cannot
// collide with ids minted by this one.
const idVersion = "sluice.record.v1"

// RecordID derives the record id from provider, dataset, source key and the sha256 of the
// payload. Equal inputs give equal ids on every replica and every run, which is what makes
// the id usable as Nats-Msg-Id (publish dedupe) and MongoDB _id (insert-only staging).
// Fields are length-prefixed so that ("ab","c") and ("a","bc") cannot collide.
func RecordID(provider, dataset, sourceKey string, payloadSHA256 []byte) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, field := range [][]byte{[]byte(idVersion), []byte(provider), []byte(dataset), []byte(sourceKey), payloadSHA256} {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(field)))])
		h.Write(field)
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// tokenPattern is what a provider or dataset name may contain: it becomes a NATS subject
// token, part of a MongoDB collection name and part of KV keys.
var tokenPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// ValidName reports whether s can be used as a provider or dataset name.
func ValidName(s string) bool { return tokenPattern.MatchString(s) }

// CheckName returns an error naming what (e.g. "provider") when s is not a valid name.
func CheckName(what, s string) error {
	if !ValidName(s) {
		return fmt.Errorf("%s %q: must start with a letter and contain only letters, digits, '_' or '-' (at most 64)", what, s)
	}
	return nil
}
