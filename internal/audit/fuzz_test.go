package audit

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spangate/spangate"
)

// fuzzEntry builds an entry from fuzzed parts; list-like parts are split
// on "|" and maps on "=" so the fuzzer can move bytes between fields.
func fuzzEntry(seq int64, at int64, principal, statement, keys, attrs, commit string, rows int64, incomplete bool, prev string) Entry {
	e := Entry{
		Seq: seq, At: time.UnixMicro(at), Principal: principal, Statement: statement, Rows: rows,
		KeysIncomplete: incomplete, Run: spangate.RunMetadata{Commit: commit}, Result: ResultOK,
	}
	if keys != "" {
		e.Keys = strings.Split(keys, "|")
	}
	if attrs != "" {
		e.Attributes = map[string]string{}
		for _, kv := range strings.Split(attrs, "|") {
			k, v, _ := strings.Cut(kv, "=")
			e.Attributes[k] = v
		}
	}
	e.Seal(prev)
	return e
}

// same reports whether two entries are equal as stored: nil and empty
// lists and maps alike, times by microsecond.
func same(a, b Entry) bool {
	eqMap := func(x, y map[string]string) bool {
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || w != v {
				return false
			}
		}
		return true
	}
	return a.Seq == b.Seq && a.At.Equal(b.At) && a.Principal == b.Principal && a.Statement == b.Statement &&
		a.Rows == b.Rows && a.KeysIncomplete == b.KeysIncomplete && a.Run == b.Run && a.PrevHash == b.PrevHash &&
		slices.Equal(a.Keys, b.Keys) && eqMap(a.Attributes, b.Attributes)
}

// FuzzSeal checks that distinct entries get distinct hashes (the encoding
// is injective), that sealing is deterministic, and that the verifier never
// panics and accepts exactly an untouched chain.
func FuzzSeal(f *testing.F) {
	f.Add(int64(1), int64(1700000000000000), "p", "SELECT 1", "[1]|[2]", "a=b", "c0", int64(1), false, "",
		int64(1), int64(1700000000000000), "p", "SELECT 1", "[1]", "a=b|[2]", "c0", int64(1), false, "")
	f.Add(int64(2), int64(0), "ab", "c", "", "", "", int64(0), true, "h",
		int64(2), int64(0), "a", "bc", "", "", "", int64(0), true, "h")
	f.Fuzz(func(t *testing.T, seq1, at1 int64, p1, s1, k1, a1, c1 string, r1 int64, i1 bool, prev1 string,
		seq2, at2 int64, p2, s2, k2, a2, c2 string, r2 int64, i2 bool, prev2 string) {
		x := fuzzEntry(seq1, at1, p1, s1, k1, a1, c1, r1, i1, prev1)
		y := fuzzEntry(seq2, at2, p2, s2, k2, a2, c2, r2, i2, prev2)
		if (x.Hash == y.Hash) != same(x, y) {
			t.Fatalf("hash equality %v but entries equal %v:\n%+v\n%+v", x.Hash == y.Hash, same(x, y), x, y)
		}
		if x.ComputeHash() != x.Hash {
			t.Fatal("sealing is not deterministic")
		}
		// A chain of the two, as sealed and as given.
		var v Verifier
		v.Add(x)
		v.Add(y)
		v.CheckHead(seq2, y.Hash)
		r := v.Result()
		intact := seq1 == 1 && prev1 == "" && seq2 == 2 && prev2 == x.Hash
		if r.OK != intact {
			t.Fatalf("verify ok = %v for a chain that is intact = %v: %+v", r.OK, intact, r)
		}
		if r.Entries != 2 || (!r.OK && r.FirstBad == nil) {
			t.Fatalf("result %+v", r)
		}
	})
}

// FuzzParseAnchor checks that ParseAnchor never panics and that what it
// accepts prints back to an anchor it reads the same.
func FuzzParseAnchor(f *testing.F) {
	f.Add("42:" + strings.Repeat("0", 64))
	f.Add("1:")
	f.Add("9223372036854775807:" + strings.Repeat("f", 64))
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAnchor(s)
		if err != nil {
			return
		}
		b, err := ParseAnchor(a.String())
		if err != nil || b != a || a.Seq < 1 || len(a.Hash) != 64 {
			t.Fatalf("%q → %+v → %+v, %v", s, a, b, err)
		}
	})
}
