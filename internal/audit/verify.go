package audit

import (
	"fmt"
	"strconv"
	"strings"
)

// VerifyResult is the outcome of walking the chain; its JSON form is the
// contract of `audit verify`: ok, entries, first_bad (a seq or null).
type VerifyResult struct {
	// OK is true when every entry and the head check out.
	OK bool `json:"ok"`
	// Entries is the number of entries walked.
	Entries int64 `json:"entries"`
	// FirstBad is the seq of the first entry found edited, missing,
	// reordered or re-chained; nil when OK.
	FirstBad *int64 `json:"first_bad"`
	// Problem says what is wrong with FirstBad.
	Problem string `json:"problem,omitempty"`
	// Head is the last entry of an intact chain, to keep outside the
	// database as an anchor for later verifications; nil when the chain
	// is empty or broken.
	Head *Anchor `json:"head,omitempty"`
}

// Anchor names one entry of the chain by its seq and hash. Recorded outside
// the database (a CI log, a ticket) and passed to a later verify, it shows
// a rewrite of the chain's tail done together with the head row, which the
// chain alone cannot reveal: the entry must still be there, with that hash.
type Anchor struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// String returns the anchor as SEQ:HASH, the form ParseAnchor reads.
func (a Anchor) String() string { return strconv.FormatInt(a.Seq, 10) + ":" + a.Hash }

// ParseAnchor reads SEQ:HASH: a seq from 1 and the entry's hash, 64
// lower-case hex digits.
func ParseAnchor(s string) (Anchor, error) {
	seqText, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Anchor{}, fmt.Errorf("anchor %q is not SEQ:HASH (as printed by audit verify, e.g. 42:%s)", s, strings.Repeat("0", 64))
	}
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if err != nil || seq < 1 {
		return Anchor{}, fmt.Errorf("anchor %q: %q is not an entry number (1 or more)", s, seqText)
	}
	if len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return Anchor{}, fmt.Errorf("anchor %q: the hash must be 64 lower-case hex digits", s)
	}
	return Anchor{Seq: seq, Hash: hash}, nil
}

// Verifier walks the chain one entry at a time, in seq order, without
// holding entries in memory. The zero value is ready to use.
//
// For each entry it checks, in order: that its seq follows the previous one
// (a gap means deleted entries, a seq that does not grow means reordered
// ones); that its hash matches its content (else it was edited); and that
// its PrevHash is the previous entry's hash (else the previous entry was
// rewritten and re-hashed, or this one re-chained). The first failure is
// kept; later entries are only counted.
type Verifier struct {
	n        int64
	last     Entry
	started  bool
	firstBad *int64
	problem  string
	anchors  map[int64][]string
}

// Expect makes the walk check that the chain holds each anchored entry
// with its hash. Call it before the first Add, and CheckAnchors after the
// last.
func (v *Verifier) Expect(anchors ...Anchor) {
	if v.anchors == nil {
		v.anchors = make(map[int64][]string, len(anchors))
	}
	for _, a := range anchors {
		v.anchors[a.Seq] = append(v.anchors[a.Seq], a.Hash)
	}
}

func (v *Verifier) fail(seq int64, format string, args ...any) {
	if v.firstBad == nil {
		v.firstBad = &seq
		v.problem = fmt.Sprintf(format, args...)
	}
}

// Add checks the next entry of the chain.
func (v *Verifier) Add(e Entry) {
	v.n++
	if v.firstBad != nil {
		return
	}
	prevSeq := int64(0)
	if v.started {
		prevSeq = v.last.Seq
	}
	switch {
	case e.Seq <= prevSeq:
		v.fail(e.Seq, "entry %d comes after entry %d: entries were reordered", e.Seq, prevSeq)
		return
	case e.Seq > prevSeq+1:
		if e.Seq == prevSeq+2 {
			v.fail(prevSeq+1, "entry %d is missing: deleted (or out of order)", prevSeq+1)
		} else {
			v.fail(prevSeq+1, "entries %d to %d are missing: deleted (or out of order)", prevSeq+1, e.Seq-1)
		}
		return
	}
	if got := e.ComputeHash(); got != e.Hash {
		v.fail(e.Seq, "entry %d does not match its hash: edited after it was written", e.Seq)
		return
	}
	prevHash := ""
	if v.started {
		prevHash = v.last.Hash
	}
	if e.PrevHash != prevHash {
		if v.started {
			v.fail(prevSeq, "entry %d is not the entry %d was chained to: rewritten (or entry %d re-chained)", prevSeq, e.Seq, e.Seq)
		} else {
			v.fail(e.Seq, "entry %d is the first but names a previous hash: entries before it were removed", e.Seq)
		}
		return
	}
	for _, want := range v.anchors[e.Seq] {
		if e.Hash != want {
			v.fail(e.Seq, "entry %d is not the entry anchored as %s: the chain was rewritten from entry %d on (or the anchor was copied wrong)",
				e.Seq, Anchor{e.Seq, want}, e.Seq)
			return
		}
	}
	v.last = Entry{Seq: e.Seq, Hash: e.Hash}
	v.started = true
}

// CheckAnchors reports an anchored entry past the end of the chain: the
// entries from there were deleted from the end. Call it after the last
// Add.
func (v *Verifier) CheckAnchors() {
	if v.firstBad != nil {
		return
	}
	var beyond []int64
	for seq := range v.anchors {
		if seq > v.last.Seq {
			beyond = append(beyond, seq)
		}
	}
	if len(beyond) == 0 {
		return
	}
	highest := beyond[0]
	for _, s := range beyond {
		highest = max(highest, s)
	}
	v.fail(v.last.Seq+1, "entries %d to %d are missing though entry %d was anchored: deleted from the end of the chain",
		v.last.Seq+1, highest, highest)
}

// CheckHead compares the end of the chain with the stored chain head (the
// last seq and hash the writers recorded), which catches entries deleted
// from the end. Call it after the last Add.
func (v *Verifier) CheckHead(lastSeq int64, lastHash string) {
	if v.firstBad != nil {
		return
	}
	seen := v.last.Seq
	switch {
	case lastSeq > seen:
		v.fail(seen+1, "entries %d to %d are missing: deleted from the end of the chain", seen+1, lastSeq)
	case lastSeq < seen:
		v.fail(lastSeq+1, "entries after %d are not in the chain head: added behind the writers' back", lastSeq)
	case lastHash != v.last.Hash:
		v.fail(seen, "entry %d is not the entry the chain head recorded: rewritten", seen)
	}
}

// Result returns the outcome so far.
func (v *Verifier) Result() VerifyResult {
	r := VerifyResult{OK: v.firstBad == nil, Entries: v.n, Problem: v.problem}
	if v.firstBad != nil {
		bad := *v.firstBad
		r.FirstBad = &bad
	} else if v.started {
		r.Head = &Anchor{Seq: v.last.Seq, Hash: v.last.Hash}
	}
	return r
}

// String returns a one-line summary, for text output.
func (r VerifyResult) String() string {
	if r.OK {
		return fmt.Sprintf("ok: %d entries, chain intact", r.Entries)
	}
	return fmt.Sprintf("FAILED at entry %d (%d entries walked): %s", *r.FirstBad, r.Entries, r.Problem)
}
