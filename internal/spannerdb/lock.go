package spannerdb

import (
	"context"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate"
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

type lockRow struct {
	holder   string
	fence    int64
	acquired time.Time
	expires  time.Time
}

func readLock(ctx context.Context, txn *spanner.ReadWriteTransaction) (lockRow, error) {
	row, err := txn.ReadRow(ctx, LocksTable, spanner.Key{migrationLock}, []string{"Holder", "Fence", "AcquiredAt", "ExpiresAt"})
	if err != nil {
		return lockRow{}, err
	}
	var (
		holder            spanner.NullString
		lr                lockRow
		acquired, expires spanner.NullTime
	)
	if err := row.Columns(&holder, &lr.fence, &acquired, &expires); err != nil {
		return lockRow{}, err
	}
	lr.holder, lr.acquired, lr.expires = holder.StringVal, acquired.Time, expires.Time
	return lr, nil
}

func (lr lockRow) heldAt(now time.Time) bool { return lr.holder != "" && now.Before(lr.expires) }

// peekLock reads the lock row outside any transaction.
func (d *DB) peekLock(ctx context.Context) (lockRow, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var row *spanner.Row
	err := d.retryHealed(ctx, func() (err error) {
		row, err = d.data().Single().ReadRow(ctx, LocksTable, spanner.Key{migrationLock}, []string{"Holder", "Fence", "AcquiredAt", "ExpiresAt"})
		return err
	})
	if err != nil {
		return lockRow{}, mapErr(err, "read the migration lock")
	}
	var (
		holder            spanner.NullString
		lr                lockRow
		acquired, expires spanner.NullTime
	)
	if err := row.Columns(&holder, &lr.fence, &acquired, &expires); err != nil {
		return lockRow{}, mapErr(err, "read the migration lock")
	}
	lr.holder, lr.acquired, lr.expires = holder.StringVal, acquired.Time, expires.Time
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
		return migration.Lease{}, &migration.LockHeldError{Holder: lr.holder, Since: lr.acquired, Expires: lr.expires}
	}
	var lease migration.Lease
	var held *migration.LockHeldError
	err := d.runRW(ctx, "acquire the migration lock", func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
		held = nil
		lr, err := readLock(ctx, txn)
		if err != nil {
			return err
		}
		now := time.Now()
		if lr.heldAt(now) {
			held = &migration.LockHeldError{Holder: lr.holder, Since: lr.acquired, Expires: lr.expires}
			return nil
		}
		lease = migration.Lease{Holder: holder, Fence: lr.fence + 1, Expires: now.Add(ttl)}
		return txn.BufferWrite([]*spanner.Mutation{spanner.Update(LocksTable,
			[]string{"Name", "Holder", "Fence", "AcquiredAt", "ExpiresAt"},
			[]any{migrationLock, holder, lease.Fence, now, lease.Expires})})
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
			return spangate.Errorf(spangate.Blocked, "%w", &migration.LockHeldError{Holder: orNobody(lr.holder), Since: lr.acquired, Expires: lr.expires})
		}
		next.Expires = time.Now().Add(ttl)
		return txn.BufferWrite([]*spanner.Mutation{spanner.Update(LocksTable, []string{"Name", "ExpiresAt"}, []any{migrationLock, next.Expires})})
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
