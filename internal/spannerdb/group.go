package spannerdb

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"

	"github.com/spangate/spangate/internal/audit"
)

// Group commit of audited DML.
//
// Every audited change appends to one chain, so a database's audited
// transactions commit one after another however many writers there are:
// the chain, not Spanner, sets the pace. To keep that pace from capping
// throughput at one statement per commit, ExecDML calls that arrive while
// an audited statement of the same DB is running wait, and then run
// together, in their order of arrival, in one read-write transaction that
// appends all their entries: one commit, and one round trip for their
// statements when they are batchable (countOnly).
//
// Grouping changes no outcome a caller can see. The statements of a group
// run one after another as if each had its own transaction; they commit
// together or not at all. When a statement of the group or its audit entry
// fails (a constraint, a bad parameter, an entry too large, …) or Spanner
// refuses the group's commit (too many mutations), nothing of the group
// committed, and each caller runs its statement alone, as it would have
// without grouping, so one caller's failure is never another's.
// Contention is retried for the whole group.
//
// The first caller that finds no group running runs its own statement at
// once, without waiting for company; a goroutine then runs the groups that
// queued meanwhile, and exits when none is left.

// maxGroup bounds the statements run in one group transaction.
const maxGroup = 32

type dmlGroup struct {
	mu      sync.Mutex
	queue   []*dmlJob
	running bool

	// Counters (see AuditStats): groups of two or more statements
	// committed, their statements, and statements sent back to run alone.
	groups, grouped, alone atomic.Int64
}

// dmlJob is one ExecDML call waiting for, or run in, a group.
type dmlJob struct {
	ctx context.Context
	c   capture
	e   audit.Entry

	done chan struct{} // closed when the fields below are set
	// alone: the group failed as a whole; the caller must run the
	// statement by itself.
	alone  bool
	rows   int64
	sealed audit.Entry
	dmlErr error
	err    error
}

// execGrouped is execCaptured through the database's group commit.
func (d *DB) execGrouped(ctx context.Context, c capture, e audit.Entry) (rows int64, sealed audit.Entry, dmlErr, err error) {
	if d.noRollback {
		return d.execCaptured(ctx, c, e)
	}
	j := &dmlJob{ctx: ctx, c: c, e: e, done: make(chan struct{})}
	g := &d.group
	g.mu.Lock()
	if !g.running {
		g.running = true
		g.mu.Unlock()
		d.runGroup(ctx, []*dmlJob{j})
		d.drainGroups()
	} else {
		g.queue = append(g.queue, j)
		g.mu.Unlock()
		if !d.awaitJob(ctx, j) {
			return 0, audit.Entry{}, nil, mapErr(ctx.Err(), "run DML")
		}
	}
	if j.alone {
		return d.execCaptured(ctx, c, e)
	}
	return j.rows, j.sealed, j.dmlErr, j.err
}

// awaitJob waits until j has run. It reports false when ctx ended while j
// was still queued; j is then withdrawn and never runs. Once a group has
// taken j, awaitJob waits for its outcome whatever ctx does, so the caller
// never reports a change as not made when it committed.
func (d *DB) awaitJob(ctx context.Context, j *dmlJob) bool {
	select {
	case <-j.done:
		return true
	case <-ctx.Done():
	}
	g := &d.group
	g.mu.Lock()
	if i := slices.Index(g.queue, j); i >= 0 {
		g.queue = slices.Delete(g.queue, i, i+1)
		g.mu.Unlock()
		return false
	}
	g.mu.Unlock()
	<-j.done
	return true
}

// drainGroups hands the queued jobs, if any, to a goroutine that runs them
// in groups until the queue is empty; otherwise it marks the group idle.
func (d *DB) drainGroups() {
	g := &d.group
	g.mu.Lock()
	if len(g.queue) == 0 {
		g.running = false
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	go func() {
		for {
			g.mu.Lock()
			if len(g.queue) == 0 {
				g.running = false
				g.mu.Unlock()
				return
			}
			n := min(len(g.queue), maxGroup)
			batch := slices.Clone(g.queue[:n])
			g.queue = slices.Delete(g.queue, 0, n)
			g.mu.Unlock()
			ctx, cancel := groupContext(batch)
			d.runGroup(ctx, batch)
			cancel()
		}
	}()
}

// groupContext is the context of a group's transaction. The group outlives
// any one caller's cancellation: once taken, its jobs run to an outcome,
// each attempt within the call timeout. When every caller has a deadline,
// the group stops at the latest one, when no caller is waiting any more.
func groupContext(jobs []*dmlJob) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(jobs[0].ctx)
	var latest time.Time
	for _, j := range jobs {
		dl, ok := j.ctx.Deadline()
		if !ok {
			return ctx, func() {}
		}
		if dl.After(latest) {
			latest = dl
		}
	}
	return context.WithDeadline(ctx, latest)
}

// errGroupStatement marks a statement's own failure inside a group.
type errGroupStatement struct{ err error }

func (e *errGroupStatement) Error() string { return e.err.Error() }
func (e *errGroupStatement) Unwrap() error { return e.err }

// runGroup runs jobs in one audited read-write transaction and delivers
// each its outcome.
func (d *DB) runGroup(ctx context.Context, jobs []*dmlJob) {
	defer func() {
		for _, j := range jobs {
			close(j.done)
		}
	}()
	if len(jobs) == 1 {
		j := jobs[0]
		j.rows, j.sealed, j.dmlErr, j.err = d.execCaptured(ctx, j.c, j.e)
		return
	}
	batchable := true
	for _, j := range jobs {
		batchable = batchable && j.c.countOnly()
	}
	rows := make([]int64, len(jobs))
	var sealed []audit.Entry
	err := d.runAudited(ctx, "run DML", func(ctx context.Context, txn *spanner.ReadWriteTransaction, ap *appender) error {
		entries := make([]audit.Entry, len(jobs))
		record := func(i int, n int64, keys []string, incomplete bool) {
			rows[i], entries[i] = n, jobs[i].c.entry(jobs[i].e, n, keys, incomplete)
		}
		if batchable {
			stmts := make([]spanner.Statement, len(jobs))
			for i, j := range jobs {
				stmts[i] = j.c.stmt
			}
			counts, err := txn.BatchUpdate(ctx, stmts)
			if err != nil {
				return statementErr(err)
			}
			for i, j := range jobs {
				keys, incomplete := j.c.keysOfCount(counts[i])
				record(i, counts[i], keys, incomplete)
			}
		} else {
			for i, j := range jobs {
				n, keys, incomplete, err := j.c.run(ctx, txn)
				if err != nil {
					return statementErr(err)
				}
				record(i, n, keys, incomplete)
			}
		}
		out, err := ap.append(ctx, txn, entries...)
		if err != nil {
			// One caller's entry may be the one refused (too large):
			// each runs alone, and only that one fails.
			return statementErr(err)
		}
		sealed = out
		return nil
	})
	var stmtErr *errGroupStatement
	switch {
	case err == nil:
		d.group.groups.Add(1)
		d.group.grouped.Add(int64(len(jobs)))
		for i, j := range jobs {
			j.rows, j.sealed = rows[i], sealed[i]
		}
	case errors.As(err, &stmtErr), spanner.ErrCode(err) == codes.InvalidArgument:
		// Nothing of the group committed: a statement or its audit entry
		// failed, or Spanner refused the request (the commit holds too
		// many mutations, say). Each caller runs its own statement alone.
		d.group.alone.Add(int64(len(jobs)))
		for _, j := range jobs {
			j.alone = true
		}
	default:
		// As from execCaptured: the statements ran; the audit, the commit
		// or contention failed. Nothing committed, or the outcome is
		// unknown; ExecParsed reports it.
		for _, j := range jobs {
			j.err = err
		}
	}
}

// statementErr marks err as a statement's failure, unless it is
// contention, which the transaction retries.
func statementErr(err error) error {
	if contended(err) {
		return err
	}
	return &errGroupStatement{err}
}
