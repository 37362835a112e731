package spannerdb

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"cloud.google.com/go/spanner"
	"github.com/spangate/spangate"
	"google.golang.org/grpc/codes"
)

// How an append learns the chain head.
//
// The chain's integrity does not rest on reading the head: every entry row
// is written with an Insert keyed by its Seq, and an Insert of a Seq that
// exists fails the whole commit (AlreadyExists), the change included. So a
// transaction that seals entry n+1 after entry n commits only if no other
// transaction committed an entry n+1 first: the chain cannot fork, and it
// cannot skip a Seq as long as n was really the last committed entry.
//
// That lets a process skip the read of SpangateAuditHead (one round trip
// per audited change) when it already knows the head: it remembers the last
// entry it committed itself, or read in a transaction, and seals the next
// entry after it. When another process appended in between, the commit
// fails with AlreadyExists, nothing of it is kept, and the transaction
// runs again reading the head inside it as before; the process then reads
// the head for a while instead of guessing, because it is sharing the
// chain with another writer: 1 s after the first such loss, twice as long
// after each loss that follows, up to a minute, and 1 s again once a guess
// has won. Replicas that keep sharing a busy database thus lose about one
// commit a minute each, not one a second.
//
// Only the holder of the process's turn on the database seals after the
// remembered head; the turn is held from sealing until the commit answers,
// so the process's own writers never collide on a Seq. A transaction takes
// the turn after its statements have run, and only if it is free: one
// that finds it taken reads the head instead and leaves the remembered
// head alone, and Spanner's locks order it against the holder. Nothing
// ever waits for the turn, so the turn can never close a cycle with row
// locks. (Concurrent exec statements of one database do not meet here:
// group.go runs them together.)
//
// The remembered head is dropped whenever the holder's transaction fails,
// because a failed commit may still have been applied, and whenever a
// transaction of the process appended without the turn. On a backend that
// does not roll back (Options.NoRollback) it is never used.
type chain struct {
	turn chan struct{}

	// Guarded by turn.
	known      bool
	seq        int64
	hash       string
	distrusted time.Time     // read the head until then
	window     time.Duration // the last distrust window; 0 after a guess won

	// dirty is set when a transaction of this process appended without
	// the turn: the remembered head is then not to be trusted.
	dirty atomic.Bool

	// Counters (see AuditStats): transaction bodies run again after an
	// attempt that sealed entries (aborted, contended, or a stale head),
	// and commits lost because the remembered head was stale.
	reruns, stale atomic.Int64
}

// chainDistrust and maxChainDistrust bound how long a process reads the
// head inside the transaction after it found another writer on the chain.
const (
	chainDistrust    = time.Second
	maxChainDistrust = time.Minute
)

// distrust makes the process read the head for the next window from now
// on: chainDistrust after a guess that won, twice the last window
// otherwise, at most maxChainDistrust.
func (c *chain) distrust(now time.Time) {
	c.window = min(max(2*c.window, chainDistrust), maxChainDistrust)
	c.distrusted = now.Add(c.window)
}

func newChain() *chain { return &chain{turn: make(chan struct{}, 1)} }

// tryAcquire takes the turn to append if no one holds it.
func (c *chain) tryAcquire() bool {
	select {
	case c.turn <- struct{}{}:
		return true
	default:
		return false
	}
}

func (c *chain) release() { <-c.turn }

// head returns the remembered head when it may be used without reading it.
func (c *chain) head(now time.Time) (seq int64, hash string, ok bool) {
	if c.dirty.Swap(false) {
		c.known = false
	}
	if !c.known || now.Before(c.distrusted) {
		return 0, "", false
	}
	return c.seq, c.hash, true
}

func (c *chain) advance(seq int64, hash string) { c.known, c.seq, c.hash = true, seq, hash }

func (c *chain) forget() { c.known = false }

// appender appends a transaction's entries to the chain; see
// DB.runAudited.
type appender struct {
	db *DB
	// forceRead makes append read the head in the transaction even when
	// the process remembers it.
	forceRead bool
	// held is set while this appender holds the chain's turn, from the
	// append that took it until the transaction's commit has answered.
	held bool

	// Per attempt of the transaction body, set by append.
	appended  bool
	usedCache bool
	lastSeq   int64
	lastHash  string
}

// runAudited runs fn in a read-write transaction, like runRW, for a body
// that appends to the audit chain with ap.append. append takes the chain's
// turn if it is free, and it is then held until the commit answers; with
// the turn, it seals after the remembered head when there is one, and when
// that guess lost to another process (see chain), runAudited runs fn once
// more at once, reading the head this time. fn may run several times and
// must be safe to repeat.
func (d *DB) runAudited(ctx context.Context, what string, fn func(context.Context, *spanner.ReadWriteTransaction, *appender) error) error {
	ap := &appender{db: d}
	return d.retryContended(ctx, what, func(ctx context.Context) error {
		for {
			completed := false
			_, err := d.data().ReadWriteTransaction(ctx, func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
				if ap.appended {
					d.chain.reruns.Add(1)
					// An earlier attempt sealed entries and did not commit
					// (Spanner aborted it): read the head from here on
					// rather than reason about why.
					ap.forceRead = true
				}
				if ap.held {
					// Give the turn back while the statements run again:
					// held across them, it could wait on a row lock of a
					// transaction that waits for the turn.
					ap.held = false
					d.chain.release()
				}
				ap.appended, ap.usedCache, completed = false, false, false
				if err := fn(ctx, txn, ap); err != nil {
					return err
				}
				completed = true
				return nil
			})
			if ap.settle(err, completed) {
				continue
			}
			if completed && unknownOutcome(err) {
				// The commit was sent and got no answer, or the caller
				// stopped waiting for it: it may have been made.
				kind, how := spangate.Unavailable, "the commit got no answer"
				if canceledByCaller(err) {
					kind, how = spangate.Canceled, "interrupted while the commit was under way"
				}
				return spangate.Errorf(kind, "%s: %s, so whether it was made is unknown: %w", what, how, spangate.OutcomeUnknown(err)).
					WithHint("do not simply retry a change that is not idempotent: audit entries commit with their change, so spangate audit list (--table and --key for a row) shows whether it was made")
			}
			return err
		}
	})
}

// canceledByCaller reports whether err is the caller's own cancellation,
// which the Spanner client may report without wrapping context.Canceled.
func canceledByCaller(err error) bool {
	return errors.Is(err, context.Canceled) || strings.Contains(err.Error(), context.Canceled.Error())
}

// settle records the outcome of a transaction in the chain and gives the
// turn back. It reports whether the transaction should run again at once:
// it sealed after the remembered head, and the commit failed because
// another process had stored that Seq.
func (ap *appender) settle(err error, completed bool) (again bool) {
	c := ap.db.chain
	if !ap.held {
		if ap.appended {
			// It appended without the turn: the remembered head may be
			// behind now.
			c.dirty.Store(true)
		}
		return false
	}
	defer func() { ap.held = false; c.release() }()
	switch {
	case err == nil && ap.appended:
		c.advance(ap.lastSeq, ap.lastHash)
		if ap.usedCache {
			c.window = 0 // the guess won: nobody else appended meanwhile
		}
		return false
	case err == nil:
		return false
	}
	// A failed commit may still have been applied: forget the head.
	c.forget()
	if ap.appended && ap.usedCache && completed && spanner.ErrCode(err) == codes.AlreadyExists {
		c.reruns.Add(1)
		c.stale.Add(1)
		c.distrust(time.Now())
		ap.forceRead = true
		return true
	}
	return false
}

// AuditStats counts, since the DB was opened, how its audited transactions
// went: for the gateway's metrics and for tests.
type AuditStats struct {
	// Groups is the number of groups of two or more DML statements
	// committed together (group.go), and GroupedStatements their
	// statements.
	Groups, GroupedStatements int64
	// GroupFallbacks counts statements of failed groups run again alone.
	GroupFallbacks int64
	// StaleHeads counts commits that sealed after the remembered chain
	// head and lost to another process's append (chain.go): a replica
	// sharing the database.
	StaleHeads int64
	// Reruns counts transaction bodies that sealed entries and ran again:
	// stale heads, and transactions Spanner aborted or the emulator
	// reported contended.
	Reruns int64
}

// AuditStats returns the counters of d's audited transactions.
func (d *DB) AuditStats() AuditStats {
	return AuditStats{
		Groups: d.group.groups.Load(), GroupedStatements: d.group.grouped.Load(),
		GroupFallbacks: d.group.alone.Load(), StaleHeads: d.chain.stale.Load(), Reruns: d.chain.reruns.Load(),
	}
}
