package spannerdb_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/spannerdb"
)

// hammer runs workers goroutines, each doing perWorker operations through
// one of dbs in turn: even operations insert a row of its own with
// ExecDML, odd ones append a decision with AppendAudit. It returns the
// seqs the calls got and the ids inserted.
func hammer(t *testing.T, dbs []*spannerdb.DB, workers, perWorker int) (seqs map[int64]bool, ids []int64) {
	t.Helper()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	seqs = map[int64]bool{}
	for w := range workers {
		wg.Go(func() {
			db := dbs[w%len(dbs)]
			for i := range perWorker {
				var (
					e   audit.Entry
					err error
					id  = int64(w*1000 + i)
				)
				if i%2 == 0 {
					_, e, err = db.ExecDML(t.Context(), "INSERT INTO Orders (Id, Note) VALUES (@id, @note)",
						map[string]any{"id": id, "note": "n"}, actor(fmt.Sprintf("worker%d", w)))
				} else {
					e, err = db.AppendAudit(t.Context(), actor(fmt.Sprintf("worker%d", w)))
				}
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, err)
				case seqs[e.Seq]:
					errs = append(errs, fmt.Errorf("seq %d handed out twice", e.Seq))
				default:
					seqs[e.Seq] = true
					if i%2 == 0 {
						ids = append(ids, id)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	return seqs, ids
}

// checkOneEntryPerChange checks that the chain verifies, that it holds
// exactly the entries the callers were given (seqs 1..M), and that every
// inserted row has exactly one entry naming it.
func checkOneEntryPerChange(t *testing.T, db *spannerdb.DB, seqs map[int64]bool, ids []int64) {
	t.Helper()
	r := verify(t, db)
	if !r.OK || r.Entries != int64(len(seqs)) {
		t.Fatalf("verify = %+v; want ok with %d entries", r, len(seqs))
	}
	for s := int64(1); s <= int64(len(seqs)); s++ {
		if !seqs[s] {
			t.Errorf("seq %d was not handed to any caller", s)
		}
	}
	if n := countRows(t, db, "SELECT COUNT(*) AS n FROM Orders"); n != int64(len(ids)) {
		t.Errorf("%d rows, %d inserts", n, len(ids))
	}
	for _, id := range ids {
		got, err := db.ListAudit(t.Context(), audit.Filter{Table: "Orders", Key: fmt.Sprint(id)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Rows != 1 {
			t.Errorf("row %d has %d entries, want 1", id, len(got))
		}
	}
}

// TestConcurrentWritersTwoClients has 8 goroutines write through two
// separate clients (as two gateway replicas would) on one database.
func TestConcurrentWritersTwoClients(t *testing.T) {
	a, path := openAudited(t)
	b := openPath(t, path)
	start := time.Now()
	seqs, ids := hammer(t, []*spannerdb.DB{a, b}, 8, 10)
	t.Logf("%d entries by 8 writers through 2 clients in %v", len(seqs), time.Since(start))
	checkOneEntryPerChange(t, a, seqs, ids)
}

// TestAbortedTransactionsDoNotDuplicate runs writers on an emulator that
// aborts 10% of transactions: every retry re-runs the transaction body,
// which must not leave a second entry or a second row behind.
func TestAbortedTransactionsDoNotDuplicate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dedicated emulator")
	}
	emulatortest.StartDedicated(t, "--abort_current_transaction_probability=10")
	path := emulatortest.NewDatabase(t, userTables...)
	retries := &retryCounter{}
	// Two clients, as two replicas: within one client the writers take
	// turns, so only writers of different clients meet in the emulator.
	var dbs []*spannerdb.DB
	for range 2 {
		db, err := spannerdb.Open(t.Context(), path, spannerdb.Options{Logger: slog.New(retries)})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Init(t.Context()); err != nil {
			t.Fatal(err)
		}
		dbs = append(dbs, db)
	}
	seqs, ids := hammer(t, dbs, 8, 12)
	checkOneEntryPerChange(t, dbs[0], seqs, ids)
	// The client retries ABORTED by itself; runRW logs the emulator's
	// other contention errors, which it retries. Both run the body again.
	reruns := dbs[0].AuditStats().Reruns + dbs[1].AuditStats().Reruns
	t.Logf("%d entries; %d transaction bodies ran again; runRW retried %d contended transactions", len(seqs), reruns, retries.n.Load())
	if reruns == 0 {
		t.Error("no transaction body ran twice: the test did not exercise retries")
	}
}

var migrations = map[string]string{
	"0001_items.sql": "CREATE TABLE Items (Id INT64 NOT NULL, Name STRING(MAX)) PRIMARY KEY (Id);",
	"0002_seed.sql": `INSERT INTO Items (Id, Name) VALUES (1, 'a'), (2, 'b');
UPDATE Items SET Name = 'c' WHERE Id = 2;`,
	"0003_backfill.sql": `-- spangate:partitioned
UPDATE Items SET Name = 'd' WHERE Id > 0;`,
	// Both rows are named 'd' now: the unique index fails when Spanner
	// validates the data, which no plan can foresee.
	"0004_broken.sql": "CREATE UNIQUE INDEX ItemsByName ON Items (Name);",
}

func TestAuditedMigrationHistory(t *testing.T) {
	db, _ := openAudited(t)
	set := readSet(t, migrations)
	who := actor("deployer")
	who.Action = ""
	eng := &migration.Engine{Locks: db, History: db.WithAudit(who, set.Files...), Schema: db, Partitioned: db,
		Holder: "test", LockTTL: 3 * time.Second, LockTimeout: 30 * time.Second}
	if _, err := eng.Apply(t.Context(), set); err == nil {
		t.Fatal("apply of a broken migration succeeded")
	}
	got := entries(t, db)
	type row struct {
		result, statement, table string
		rows                     int64
		keys                     int
	}
	want := []row{
		{"ok", "CREATE TABLE Items (Id INT64 NOT NULL, Name STRING(MAX)) PRIMARY KEY (Id)", "", 0, 0},
		{"ok", "INSERT INTO Items (Id, Name) VALUES (1, 'a'), (2, 'b')", "Items", 2, 2},
		{"ok", "UPDATE Items SET Name = 'c' WHERE Id = 2", "Items", 1, 1},
		// Partitioned DML: the table, Spanner's lower bound of the rows
		// (both rows), keys incomplete (checked below).
		{"ok", "UPDATE Items SET Name = 'd' WHERE Id > 0", "Items", 2, 0},
		{"failed", "CREATE UNIQUE INDEX ItemsByName ON Items (Name)", "", 0, 0},
	}
	if len(got) != len(want) {
		for _, e := range got {
			t.Logf("%d %s %q %s", e.Seq, e.Result, e.Statement, e.Reason)
		}
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i, e := range got {
		g := row{e.Result, e.Statement, e.Table, e.Rows, len(e.Keys)}
		if g != want[i] || e.Action != "migrate" || e.Principal != "deployer" || e.Run.Commit != "abc123" {
			t.Errorf("entry %d = %+v (%s, %s); want %+v", e.Seq, g, e.Action, e.Principal, want[i])
		}
	}
	if got[4].Reason == "" {
		t.Error("the failed entry has no reason")
	}
	if !got[3].KeysIncomplete || got[2].KeysIncomplete {
		t.Errorf("keys incomplete: partitioned %v, keyed update %v; want true, false", got[3].KeysIncomplete, got[2].KeysIncomplete)
	}
	byRow, err := db.ListAudit(t.Context(), audit.Filter{Table: "Items", Key: "2"})
	if err != nil || len(byRow) != 2 || byRow[0].Seq != 3 || byRow[1].Seq != 2 {
		t.Errorf("who changed Items 2: %v %v", byRow, err)
	}
	if r := verify(t, db); !r.OK {
		t.Errorf("verify = %+v", r)
	}
	// A second apply re-runs only the broken file and records its failure
	// again; the applied files record nothing more.
	if _, err := eng.Apply(t.Context(), set); err == nil {
		t.Fatal("second apply succeeded")
	}
	if got := entries(t, db); len(got) != 6 || got[5].Result != "failed" {
		t.Errorf("after the second apply: %d entries", len(got))
	}
}

// retryCounter is a slog handler that counts runRW's retries.
type retryCounter struct{ n atomic.Int64 }

func (c *retryCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *retryCounter) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "retrying") {
		c.n.Add(1)
	}
	return nil
}
func (c *retryCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *retryCounter) WithGroup(string) slog.Handler      { return c }

// TestStaleRememberedHead has three clients append in turn, so that each
// one's remembered head is stale at its next append: the commit of the
// guessed Seq must fail as a whole and run again after the real head, with
// no entry lost, duplicated or chained after the wrong one, and the DML of
// the failed attempt applied once.
func TestStaleRememberedHead(t *testing.T) {
	a, path := openAudited(t)
	dbs := []*spannerdb.DB{a, openPath(t, path), openPath(t, path)}
	var ids []int64
	seqs := map[int64]bool{}
	for i := range 12 {
		db := dbs[i%len(dbs)]
		id := int64(i + 1)
		_, e, err := db.ExecDML(t.Context(), "INSERT INTO Orders (Id) VALUES (@id)", map[string]any{"id": id}, actor("ci"))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if e.Seq != id {
			t.Fatalf("append %d got seq %d, want %d", i, e.Seq, id)
		}
		seqs[e.Seq] = true
		ids = append(ids, id)
	}
	checkOneEntryPerChange(t, a, seqs, ids)
	var stale int64
	for _, db := range dbs {
		stale += db.AuditStats().StaleHeads
	}
	if stale == 0 {
		t.Error("no append lost to a stale head: the test did not exercise the retry")
	}
}
