package audit

import "fmt"

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
	v.last = Entry{Seq: e.Seq, Hash: e.Hash}
	v.started = true
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
