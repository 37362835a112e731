package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"math/big"
)

// KeyIndex compares the index of changed rows (one row per table, key and
// entry: "who changed this row") with the entries it indexes, without
// holding either in memory. Each side is summed as a multiset: the sum,
// modulo 2^256, of a SHA-256 of each (table, key, seq) row, and a count.
// Both sides are equal when every key an entry lists has its index row and
// every index row names an entry that lists its key: a deleted row (a
// change hidden from "who changed this row") or an added one (a change
// pinned on someone else) makes them differ.
//
// The zero value is ready to use. Callers normalise table and key the way
// the index stores them.
type KeyIndex struct {
	want, got   big.Int
	wantN, gotN int64
}

var modulus = new(big.Int).Lsh(big.NewInt(1), 256)

func keyRowDigest(table, key string, seq int64) *big.Int {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(table)))
	h.Write(n[:])
	h.Write([]byte(table))
	binary.BigEndian.PutUint64(n[:], uint64(len(key)))
	h.Write(n[:])
	h.Write([]byte(key))
	binary.BigEndian.PutUint64(n[:], uint64(seq))
	h.Write(n[:])
	return new(big.Int).SetBytes(h.Sum(nil))
}

// Expect adds a row the entries say the index holds.
func (k *KeyIndex) Expect(table, key string, seq int64) {
	k.want.Add(&k.want, keyRowDigest(table, key, seq)).Mod(&k.want, modulus)
	k.wantN++
}

// Found adds a row the index holds.
func (k *KeyIndex) Found(table, key string, seq int64) {
	k.got.Add(&k.got, keyRowDigest(table, key, seq)).Mod(&k.got, modulus)
	k.gotN++
}

// Match reports whether the rows found are the rows expected.
func (k *KeyIndex) Match() bool { return k.wantN == k.gotN && k.want.Cmp(&k.got) == 0 }

// Counts returns how many rows were expected and found.
func (k *KeyIndex) Counts() (want, got int64) { return k.wantN, k.gotN }

// CheckKeyIndex fails the walk at entry seq with problem when the index of
// changed rows does not match the entries (see KeyIndex); seq is the
// lowest entry whose index rows differ. It does nothing when the chain
// already failed.
func (v *Verifier) CheckKeyIndex(seq int64, problem string) {
	v.fail(seq, "%s", problem)
}
