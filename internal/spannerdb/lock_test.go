package spannerdb_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/spannerdb"
)

// deadPid returns the id of a process of this host that has exited.
func deadPid(t *testing.T) int64 {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return int64(cmd.Process.Pid)
}

// setLock rewrites the lock row behind the adapter's back, as another
// process holding it would have left it.
func setLock(t *testing.T, db *spannerdb.DB, host string, pid int64, renewed, expires time.Time) {
	t.Helper()
	_, err := db.Client().Apply(t.Context(), []*spanner.Mutation{spanner.Update(spannerdb.LocksTable,
		[]string{"Name", "HolderHost", "HolderPid", "RenewedAt", "ExpiresAt"}, []any{"migrations", host, pid, renewed, expires})})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStaleLock is issue 18.3: a contender names a holder whose process is
// gone from this host; unlock refuses while the lease is renewed, breaks a
// gone or stale holder's lock with an audit entry and a new fence, and the
// old holder can then write nothing.
func TestStaleLock(t *testing.T) {
	db := openPath(t, emulatortest.NewDatabase(t))
	ctx := t.Context()
	host, _ := os.Hostname()
	killed, err := db.Acquire(ctx, "ci@runner pid 1", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	// Alive (this test's process), just renewed: not broken.
	if _, err := db.BreakLock(ctx, actor("ops"), true); spangate.KindOf(err) != spangate.Blocked || !strings.Contains(err.Error(), "alive") {
		t.Fatalf("break of a renewed lease: %v, want blocked", err)
	}
	st, err := db.BreakLock(ctx, actor("ops"), false)
	if err != nil || !st.Held || st.HolderGone || st.Stale || st.Host != host || st.Pid != int64(os.Getpid()) {
		t.Fatalf("lock state = %+v, %v; want held by this live process on %s", st, err, host)
	}

	// Its process is gone (kill -9): a contender says so.
	now := time.Now()
	setLock(t, db, host, deadPid(t), now, now.Add(30*time.Second))
	_, err = db.Acquire(ctx, "next", 30*time.Second)
	var held *migration.LockHeldError
	if !errors.As(err, &held) || !held.HolderGone || !strings.Contains(err.Error(), "is gone") || !strings.Contains(err.Error(), "unlock --force") {
		t.Fatalf("acquire against a gone holder: %v; want it named gone, with the way out", err)
	}
	st, err = db.BreakLock(ctx, actor("ops"), true)
	if err != nil || !st.Broken || !st.HolderGone {
		t.Fatalf("break of a gone holder's lock: %+v, %v", st, err)
	}
	// The old holder's writes are fenced off; the next apply takes the lock.
	if err := db.Save(ctx, killed, migration.Record{Version: 1, Name: "x", Checksum: "c", State: migration.StateApplied}); spangate.KindOf(err) != spangate.Blocked {
		t.Errorf("the broken lease still writes history: %v", err)
	}
	next, err := db.Acquire(ctx, "next", 30*time.Second)
	if err != nil || next.Fence != killed.Fence+2 {
		t.Fatalf("acquire after the break: %+v, %v; want fence %d", next, err, killed.Fence+2)
	}

	// Another host, renewals missed: stale, broken.
	setLock(t, db, "elsewhere", 4242, now.Add(-25*time.Second), now.Add(5*time.Second))
	st, err = db.BreakLock(ctx, actor("ops"), true)
	if err != nil || !st.Broken || !st.Stale || st.HolderGone {
		t.Fatalf("break of a stale lease: %+v, %v", st, err)
	}
	// Free now: nothing to break, nothing recorded.
	if st, err := db.BreakLock(ctx, actor("ops"), true); err != nil || st.Held || st.Broken {
		t.Fatalf("break of a free lock: %+v, %v", st, err)
	}

	entries, err := db.ListAudit(ctx, audit.Filter{Principal: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || !strings.Contains(entries[0].Statement, "break the migration lock held by next") ||
		!strings.Contains(entries[1].Statement, "ci@runner pid 1") {
		t.Errorf("audit of the breaks: %+v", entries)
	}
	if r := verify(t, db); !r.OK {
		t.Errorf("verify = %+v", r)
	}
}

// TestInitAddsLockColumns: a database whose SpangateLocks an older
// spangate created gets the holder columns added by Init.
func TestInitAddsLockColumns(t *testing.T) {
	db := openPath(t, emulatortest.NewDatabase(t, `CREATE TABLE SpangateLocks (
  Name STRING(64) NOT NULL,
  Holder STRING(MAX),
  Fence INT64 NOT NULL,
  AcquiredAt TIMESTAMP,
  ExpiresAt TIMESTAMP,
) PRIMARY KEY (Name)`))
	l, err := db.Acquire(t.Context(), "t", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := db.BreakLock(t.Context(), actor("ops"), false); err != nil || st.Pid != int64(os.Getpid()) || st.RenewedAt.IsZero() {
		t.Fatalf("lock state on an upgraded table = %+v, %v", st, err)
	}
	if err := db.Release(t.Context(), l); err != nil {
		t.Fatal(err)
	}
}
