package spannerdb

import (
	"context"
	"fmt"
	"os"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/migration"
)

// The lease lock is one row of SpangateLocks. Acquire, Renew and Release
// each read the row and write it in one read-write transaction, which
// Spanner serialises, so of several contenders exactly one wins; Fence
// grows by one with every acquisition.
//
// Expiry is compared with this process's clock. Leases are renewed every
// third of their length, so a clock would have to be off by more than two
// thirds of a lease (20s by default) to take a live lock early.
//
// The row also names the holder's host and process id and when the lease
// was last renewed: a contender on the same host can tell that the holder's
// process is gone (killed), and BreakLock can tell a lease that is still
// being renewed from a stale one.

var lockColumns = []string{"Holder", "Fence", "AcquiredAt", "ExpiresAt", "HolderHost", "HolderPid", "RenewedAt"}

type lockRow struct {
	holder   string
	fence    int64
	acquired time.Time
	expires  time.Time
	host     string
	pid      int64
	renewed  time.Time
}

func decodeLock(row *spanner.Row) (lockRow, error) {
	var (
		holder, host               spanner.NullString
		lr                         lockRow
		acquired, expires, renewed spanner.NullTime
		pid                        spanner.NullInt64
	)
	if err := row.Columns(&holder, &lr.fence, &acquired, &expires, &host, &pid, &renewed); err != nil {
		return lockRow{}, err
	}
	lr.holder, lr.acquired, lr.expires = holder.StringVal, acquired.Time, expires.Time
	lr.host, lr.pid, lr.renewed = host.StringVal, pid.Int64, renewed.Time
	return lr, nil
}

func readLock(ctx context.Context, txn *spanner.ReadWriteTransaction) (lockRow, error) {
	row, err := txn.ReadRow(ctx, LocksTable, spanner.Key{migrationLock}, lockColumns)
	if err != nil {
		return lockRow{}, err
	}
	return decodeLock(row)
}

func (lr lockRow) heldAt(now time.Time) bool { return lr.holder != "" && now.Before(lr.expires) }

// holderGone reports whether the holder ran on this host and its process
// is no longer running.
func (lr lockRow) holderGone() bool {
	host, _ := os.Hostname()
	return lr.host != "" && lr.host == host && lr.pid > 0 && !processAlive(int(lr.pid))
}

// stale reports whether the lease has missed its renewals: it is renewed
// every third of its length, so half a lease without one means the holder
// stopped renewing (or cannot reach Spanner).
func (lr lockRow) stale(now time.Time) bool {
	if lr.renewed.IsZero() {
		return now.Sub(lr.acquired) > 15*time.Second
	}
	return now.Sub(lr.renewed) > lr.expires.Sub(lr.renewed)/2
}

func (lr lockRow) heldError() *migration.LockHeldError {
	return &migration.LockHeldError{Holder: orNobody(lr.holder), Since: lr.acquired, Expires: lr.expires,
		Host: lr.host, Pid: int(lr.pid), HolderGone: lr.holderGone()}
}

// peekLock reads the lock row outside any transaction.
func (d *DB) peekLock(ctx context.Context) (lockRow, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var row *spanner.Row
	err := d.retryHealed(ctx, func() (err error) {
		row, err = d.data().Single().ReadRow(ctx, LocksTable, spanner.Key{migrationLock}, lockColumns)
		return err
	})
	if err != nil {
		return lockRow{}, mapErr(err, "read the migration lock")
	}
	lr, err := decodeLock(row)
	if err != nil {
		return lockRow{}, mapErr(err, "read the migration lock")
	}
	return lr, nil
}

// Acquire takes the migration lock for ttl, or returns a
// *migration.LockHeldError naming the holder.
func (d *DB) Acquire(ctx context.Context, holder string, ttl time.Duration) (migration.Lease, error) {
	// A plain read first: waiting contenders then poll without taking
	// read-write transactions, which the emulator serialises database-wide.
	if lr, err := d.peekLock(ctx); err != nil {
		return migration.Lease{}, err
	} else if lr.heldAt(time.Now()) {
		return migration.Lease{}, lr.heldError()
	}
	var lease migration.Lease
	var held *migration.LockHeldError
	host, _ := os.Hostname()
	err := d.runRW(ctx, "acquire the migration lock", func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
		held = nil
		lr, err := readLock(ctx, txn)
		if err != nil {
			return err
		}
		now := time.Now()
		if lr.heldAt(now) {
			held = lr.heldError()
			return nil
		}
		lease = migration.Lease{Holder: holder, Fence: lr.fence + 1, Expires: now.Add(ttl)}
		return txn.BufferWrite([]*spanner.Mutation{spanner.Update(LocksTable,
			[]string{"Name", "Holder", "Fence", "AcquiredAt", "ExpiresAt", "HolderHost", "HolderPid", "RenewedAt"},
			[]any{migrationLock, holder, lease.Fence, now, lease.Expires, host, int64(os.Getpid()), now})})
	})
	if err != nil {
		return migration.Lease{}, err
	}
	if held != nil {
		return migration.Lease{}, held
	}
	return lease, nil
}

// Renew extends l by ttl from now. It fails with a
// *migration.LockHeldError when another holder took the lock.
func (d *DB) Renew(ctx context.Context, l migration.Lease, ttl time.Duration) (migration.Lease, error) {
	next := l
	err := d.runRW(ctx, "renew the migration lock", func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
		lr, err := readLock(ctx, txn)
		if err != nil {
			return err
		}
		if lr.holder != l.Holder || lr.fence != l.Fence {
			return spangate.Errorf(spangate.Blocked, "%w", lr.heldError())
		}
		now := time.Now()
		next.Expires = now.Add(ttl)
		return txn.BufferWrite([]*spanner.Mutation{spanner.Update(LocksTable, []string{"Name", "ExpiresAt", "RenewedAt"}, []any{migrationLock, next.Expires, now})})
	})
	if err != nil {
		return l, err
	}
	return next, nil
}

// Release frees the lock if l still holds it.
func (d *DB) Release(ctx context.Context, l migration.Lease) error {
	return d.runRW(ctx, "release the migration lock", func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
		lr, err := readLock(ctx, txn)
		if err != nil {
			return err
		}
		if lr.holder != l.Holder || lr.fence != l.Fence {
			return nil // already taken over; nothing of ours to free
		}
		return txn.BufferWrite([]*spanner.Mutation{spanner.Update(LocksTable,
			[]string{"Name", "Holder", "ExpiresAt"}, []any{migrationLock, spanner.NullString{}, spanner.NullTime{}})})
	})
}

// BreakLock frees a migration lock whose holder is gone (killed, or cut
// off from Spanner), so that an apply need not wait for the lease to
// expire. It refuses, with kind Blocked, while the lease is being renewed:
// its holder is alive, and its apply would go on. Without force it only
// reports the lock's state. Breaking it writes the audit entry actor
// (completed here) in the same transaction and bumps the fencing number,
// so the old holder, should it come back, can write nothing more.
func (d *DB) BreakLock(ctx context.Context, actor audit.Entry, force bool) (migration.LockState, error) {
	var st migration.LockState
	what := "break the migration lock"
	err := d.runAudited(ctx, what, func(ctx context.Context, txn *spanner.ReadWriteTransaction, ap *appender) error {
		lr, err := readLock(ctx, txn)
		if err != nil {
			return err
		}
		now := time.Now()
		st = migration.LockState{Held: lr.heldAt(now), Holder: lr.holder, Host: lr.host, Pid: lr.pid, Fence: lr.fence,
			AcquiredAt: lr.acquired, ExpiresAt: lr.expires, RenewedAt: lr.renewed, HolderGone: lr.holderGone(), Stale: lr.stale(now)}
		if !st.Held || !force {
			return nil
		}
		if !st.HolderGone && !st.Stale {
			return spangate.Errorf(spangate.Blocked, "the migration lock is held by %s (host %s, pid %d), whose lease was renewed %s ago: its run is alive, so the lock is not broken",
				lr.holder, orWhat(lr.host), lr.pid, now.Sub(lr.renewed).Round(time.Second)).
				WithHint("wait for that run to finish (spangate migrate status shows its progress); a lock is broken only once its lease stops being renewed")
		}
		e := actor
		if e.Action == "" {
			e.Action = string(spangate.ActionMigrate)
		}
		e.Result = audit.ResultOK
		e.Statement = fmt.Sprintf("break the migration lock held by %s (host %s, pid %d, fence %d, acquired %s, last renewed %s)",
			lr.holder, orWhat(lr.host), lr.pid, lr.fence, lr.acquired.UTC().Format(time.RFC3339), lr.renewed.UTC().Format(time.RFC3339))
		if _, err := ap.append(ctx, txn, e); err != nil {
			return err
		}
		st.Broken = true
		return txn.BufferWrite([]*spanner.Mutation{spanner.Update(LocksTable,
			[]string{"Name", "Holder", "Fence", "ExpiresAt"}, []any{migrationLock, spanner.NullString{}, lr.fence + 1, spanner.NullTime{}})})
	})
	if err != nil {
		return migration.LockState{}, err
	}
	return st, nil
}

func orWhat(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
