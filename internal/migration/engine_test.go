package migration_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/spannerdb"
)

func TestMain(m *testing.M) { emulatortest.Main(m) }

// openDB opens a fresh emulator database through the real adapter.
func openDB(t *testing.T) *spannerdb.DB {
	t.Helper()
	path := emulatortest.NewDatabase(t)
	db, err := spannerdb.Open(t.Context(), path, spannerdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func engineFor(db *spannerdb.DB, holder string) *migration.Engine {
	return &migration.Engine{Locks: db, History: db, Schema: db, Partitioned: db, Holder: holder,
		LockTTL: 3 * time.Second, LockTimeout: 60 * time.Second}
}

func mustSet(t *testing.T, files map[string]string) *migration.Set {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, content := range files {
		fsys["migrations/"+name] = &fstest.MapFile{Data: []byte(content)}
	}
	set, err := migration.ReadDir(fsys, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

var history = map[string]string{
	"0001_orders.sql": `-- Orders and their lines
CREATE TABLE Orders (Id INT64 NOT NULL, Note STRING(MAX)) PRIMARY KEY (Id);
CREATE INDEX OrdersByNote ON Orders (Note);`,
	"0002_customers.sql": "CREATE TABLE Customers (Id INT64 NOT NULL, Name STRING(100)) PRIMARY KEY (Id);",
	"0003_seed.sql": `INSERT INTO Orders (Id, Note) VALUES (1, 'a;b'), (2, NULL);
INSERT INTO Customers (Id, Name) VALUES (1, 'Ada');`,
	"0004_more.sql": `ALTER TABLE Customers ADD COLUMN Email STRING(MAX);
CREATE INDEX CustomersByName ON Customers (Name);
-- spangate:partitioned
UPDATE Orders SET Note = 'none' WHERE Note IS NULL;`,
}

func count(t *testing.T, db *spannerdb.DB, sql string) int64 {
	t.Helper()
	row, err := db.Client().Single().Query(t.Context(), spanner.NewStatement(sql)).Next()
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var n int64
	if err := row.Columns(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestApplyPlanStatus(t *testing.T) {
	db := openDB(t)
	set := mustSet(t, history)
	e := engineFor(db, "test")

	plan, err := e.Plan(t.Context(), set)
	if err != nil {
		t.Fatal(err)
	}
	// DDL of 0001 and 0002 in one batch; DML of 0003; 0004's DDL batch; PDML.
	if plan.SchemaOperations != 2 || len(plan.Steps) != 4 || len(plan.Pending) != 4 {
		t.Fatalf("plan: %d schema operations, %d steps, %d pending; want 2, 4, 4", plan.SchemaOperations, len(plan.Steps), len(plan.Pending))
	}

	res, err := e.Apply(t.Context(), set)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(res.Applied) != 4 || res.SchemaOperations != 2 || res.Statements != 8 {
		t.Errorf("result = %+v; want 4 files, 2 schema operations, 8 statements", res)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM Orders WHERE Note = 'none'"); n != 1 {
		t.Errorf("partitioned update changed %d rows, want 1", n)
	}

	// A second apply has nothing to do and runs no DML again.
	res, err = e.Apply(t.Context(), set)
	if err != nil || len(res.Applied) != 0 || res.SchemaOperations != 0 {
		t.Fatalf("second apply: %+v, %v", res, err)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM Orders"); n != 2 {
		t.Errorf("Orders has %d rows, want 2", n)
	}
	hist, err := db.History(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range migration.Statuses(set, hist) {
		if st.State != migration.StatusApplied || st.AppliedBy != "test" || st.AppliedAt == nil {
			t.Errorf("status %+v, want applied by test", st)
		}
	}
}

func TestEditedAppliedFileBlocks(t *testing.T) {
	db := openDB(t)
	e := engineFor(db, "test")
	if _, err := e.Apply(t.Context(), mustSet(t, history)); err != nil {
		t.Fatal(err)
	}
	edited := map[string]string{}
	for k, v := range history {
		edited[k] = v
	}
	edited["0002_customers.sql"] += "\n-- a harmless comment still changes the checksum"
	edited["0005_next.sql"] = "CREATE TABLE Next (Id INT64) PRIMARY KEY (Id)"
	_, err := e.Apply(t.Context(), mustSet(t, edited))
	if spangate.KindOf(err) != spangate.Blocked {
		t.Fatalf("apply of an edited file: kind %v (%v), want blocked", spangate.KindOf(err), err)
	}
	hist, _ := db.History(t.Context())
	if len(hist) != 4 {
		t.Errorf("history has %d rows; 0005 must not have been applied", len(hist))
	}
	st := migration.Statuses(mustSet(t, edited), hist)
	if st[1].State != migration.StatusModified || st[4].State != migration.StatusPending {
		t.Errorf("statuses = %s, %s; want modified, pending", st[1].State, st[4].State)
	}
}

func TestSyntaxErrorAppliesNothing(t *testing.T) {
	db := openDB(t)
	files := map[string]string{
		"0001_ok.sql":  "CREATE TABLE A (Id INT64) PRIMARY KEY (Id)",
		"0002_bad.sql": "CREATE TABLE B (Id INT64) PRIMARY KEY (Id);\nCREAT TABLE C (Id INT64) PRIMARY KEY (Id);",
	}
	_, err := engineFor(db, "t").Apply(t.Context(), mustSet(t, files))
	if spangate.KindOf(err) != spangate.Invalid {
		t.Fatalf("kind %v (%v), want invalid", spangate.KindOf(err), err)
	}
	if want := "0002_bad.sql:2"; !contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
	ddl, _ := db.Schema(t.Context())
	for _, s := range ddl {
		if contains(s, "TABLE A") {
			t.Errorf("table A was created although the run had a syntax error")
		}
	}
}

func contains(s, sub string) bool { return len(s) >= len(sub) && (s == sub || index(s, sub) >= 0) }

func index(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestLockTimeoutNamesHolder(t *testing.T) {
	db := openDB(t)
	if err := db.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Acquire(t.Context(), "pipeline 42 on main", time.Minute); err != nil {
		t.Fatal(err)
	}
	e := engineFor(db, "me")
	e.LockTimeout = 300 * time.Millisecond
	// The lease lasts a minute: an apply that waited it out would have
	// taken the lock and succeeded, so a blocked error proves the timeout.
	_, err := e.Apply(t.Context(), mustSet(t, history))
	if spangate.KindOf(err) != spangate.Blocked || !contains(err.Error(), "pipeline 42 on main") {
		t.Fatalf("err = %v (kind %v); want blocked naming the holder", err, spangate.KindOf(err))
	}
}

// TestConcurrentApplies runs 8 applies of the same history at once, 20
// times: every migration is applied exactly once and its DML runs once.
func TestConcurrentApplies(t *testing.T) {
	trials := 20
	if testing.Short() {
		trials = 3
	}
	set := mustSet(t, history)
	for trial := range trials {
		t.Run(fmt.Sprint(trial), func(t *testing.T) {
			db := openDB(t)
			var wg sync.WaitGroup
			applied := make([][]int64, 8)
			errs := make([]error, 8)
			for i := range 8 {
				wg.Go(func() {
					res, err := engineFor(db, fmt.Sprintf("runner-%d", i)).Apply(t.Context(), set)
					applied[i], errs[i] = res.Applied, err
				})
			}
			wg.Wait()
			seen := map[int64]int{}
			for i := range 8 {
				if errs[i] != nil {
					t.Errorf("runner %d: %v", i, errs[i])
				}
				for _, v := range applied[i] {
					seen[v]++
				}
			}
			for _, v := range []int64{1, 2, 3, 4} {
				if seen[v] != 1 {
					t.Errorf("migration %d applied %d times", v, seen[v])
				}
			}
			if n := count(t, db, "SELECT COUNT(*) FROM Customers"); n != 1 {
				t.Errorf("Customers has %d rows, want 1", n)
			}
		})
	}
}

// failingSchema applies the first k-1 statements of the first batch it
// gets, then reports statement k as failed, as production Spanner does.
type failingSchema struct {
	real *spannerdb.DB
	k    int
	done bool
}

func (f *failingSchema) UpdateSchema(ctx context.Context, opID string, stmts []string) (int, error) {
	if f.done || len(stmts) < f.k {
		return f.real.UpdateSchema(ctx, opID, stmts)
	}
	f.done = true
	n, err := f.real.UpdateSchema(ctx, opID+"_part", stmts[:f.k-1])
	if err != nil {
		return n, err
	}
	return n, spangate.Errorf(spangate.Conflict, "statement %d: validation failed (injected)", f.k)
}

func (f *failingSchema) AwaitOperation(ctx context.Context, opID string) (int, error) {
	return f.real.AwaitOperation(ctx, opID)
}

// lostSchema sends the batch, then drops the answer as a broken
// connection would.
type lostSchema struct{ real *spannerdb.DB }

func (l *lostSchema) UpdateSchema(ctx context.Context, opID string, stmts []string) (int, error) {
	if _, err := l.real.UpdateSchema(ctx, opID, stmts); err != nil {
		return 0, err
	}
	return -1, spangate.Errorf(spangate.Unavailable, "connection reset (injected)")
}

func (l *lostSchema) AwaitOperation(ctx context.Context, opID string) (int, error) {
	return l.real.AwaitOperation(ctx, opID)
}

func TestResumeAfterPartialBatch(t *testing.T) {
	db := openDB(t)
	set := mustSet(t, history)
	e := engineFor(db, "t")
	e.Schema = &failingSchema{real: db, k: 2} // Orders created, its index "fails"
	_, err := e.Apply(t.Context(), set)
	if err == nil || !contains(err.Error(), "0001_orders.sql:3") {
		t.Fatalf("first apply: %v; want a failure naming 0001_orders.sql:3", err)
	}
	hist, _ := db.History(t.Context())
	if len(hist) == 0 || hist[0].StatementsApplied != 1 || hist[0].State != migration.StateFailed {
		t.Fatalf("history after failure = %+v; want 0001 failed after 1 statement", hist)
	}
	// Resume with the real schema updater: CREATE TABLE Orders must not be
	// sent again (it would fail with a duplicate name).
	e.Schema = db
	res, err := e.Apply(t.Context(), set)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if len(res.Applied) != 4 {
		t.Errorf("resume applied %v, want all 4", res.Applied)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM Orders"); n != 2 {
		t.Errorf("Orders has %d rows, want 2", n)
	}
}

func TestResumeAfterLostCall(t *testing.T) {
	db := openDB(t)
	set := mustSet(t, history)
	e := engineFor(db, "t")
	e.Schema = &lostSchema{real: db}
	_, err := e.Apply(t.Context(), set)
	if spangate.KindOf(err) != spangate.Unavailable {
		t.Fatalf("first apply: kind %v (%v), want unavailable", spangate.KindOf(err), err)
	}
	hist, _ := db.History(t.Context())
	if len(hist) == 0 || hist[0].State != migration.StateApplying || hist[0].OperationName == "" {
		t.Fatalf("history = %+v; want the operation recorded in state applying", hist)
	}
	e.Schema = db
	res, err := e.Apply(t.Context(), set)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	// The lost batch is re-attached, not re-sent: only 0004's batch is new.
	if res.SchemaOperations != 1 || len(res.Applied) != 2 {
		t.Errorf("resume: %d schema operations, applied %v; want 1 and [3 4]", res.SchemaOperations, res.Applied)
	}
	hist, _ = db.History(t.Context())
	for _, st := range migration.Statuses(set, hist) {
		if st.State != migration.StatusApplied {
			t.Errorf("migration %d is %s after resume", st.Version, st.State)
		}
	}
}

func TestUnreachableSpannerFailsFast(t *testing.T) {
	db, err := spannerdb.Open(t.Context(), "projects/p/instances/i/databases/d", spannerdb.Options{
		EmulatorHost: "127.0.0.1:1", CallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The test's own deadline is far past the call timeout: an error of kind
	// unavailable (not the context's deadline) shows that the call gave up.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, err = engineFor(db, "t").Plan(ctx, mustSet(t, history))
	if err == nil {
		t.Fatal("plan against an unreachable Spanner succeeded")
	}
	if ctx.Err() != nil {
		t.Fatalf("plan waited out the test's deadline: %v", err)
	}
	if k := spangate.KindOf(err); k != spangate.Unavailable {
		t.Errorf("kind %v (%v), want unavailable", k, err)
	}
	var se *spangate.Error
	if !errors.As(err, &se) {
		t.Errorf("error is not a spangate error: %v", err)
	}
}

// cancelAfterFirstBatch interrupts the run (as Ctrl-C would) once the first
// schema batch is applied.
type cancelAfterFirstBatch struct {
	real   *spannerdb.DB
	cancel context.CancelFunc
}

func (c *cancelAfterFirstBatch) UpdateSchema(ctx context.Context, opID string, stmts []string) (int, error) {
	n, err := c.real.UpdateSchema(ctx, opID, stmts)
	c.cancel()
	return n, err
}

func (c *cancelAfterFirstBatch) AwaitOperation(ctx context.Context, opID string) (int, error) {
	return c.real.AwaitOperation(ctx, opID)
}

func TestInterruptReleasesLockAndResumes(t *testing.T) {
	db := openDB(t)
	set := mustSet(t, history)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	e := engineFor(db, "interrupted")
	e.Schema = &cancelAfterFirstBatch{real: db, cancel: cancel}
	_, err := e.Apply(ctx, set)
	if k := spangate.KindOf(err); k != spangate.Canceled {
		t.Fatalf("interrupted apply: kind %v (%v), want canceled", k, err)
	}
	// The lock is free at once, and the first batch is recorded.
	l, err := db.Acquire(t.Context(), "probe", time.Second)
	if err != nil {
		t.Fatalf("lock still held after the interrupted run: %v", err)
	}
	if err := db.Release(t.Context(), l); err != nil {
		t.Fatal(err)
	}
	hist, _ := db.History(t.Context())
	if len(hist) != 2 || hist[0].State != migration.StateApplied || hist[1].State != migration.StateApplied {
		t.Fatalf("history after interrupt = %+v; want 0001 and 0002 applied", hist)
	}
	res, err := engineFor(db, "resumer").Apply(t.Context(), set)
	if err != nil || fmt.Sprint(res.Applied) != "[3 4]" {
		t.Fatalf("resume: %v, %v; want [3 4]", res.Applied, err)
	}
}

// TestApplyUnderInjectedAborts runs concurrent applies on an emulator that
// aborts a tenth of its transactions: retries must not apply anything twice.
func TestApplyUnderInjectedAborts(t *testing.T) {
	emulatortest.StartDedicated(t, "--abort_current_transaction_probability=10")
	set := mustSet(t, history)
	for trial := range 3 {
		t.Run(fmt.Sprint(trial), func(t *testing.T) {
			db := openDB(t)
			var wg sync.WaitGroup
			errs := make([]error, 4)
			applied := make([][]int64, 4)
			for i := range 4 {
				wg.Go(func() {
					res, err := engineFor(db, fmt.Sprintf("r%d", i)).Apply(t.Context(), set)
					applied[i], errs[i] = res.Applied, err
				})
			}
			wg.Wait()
			seen := map[int64]int{}
			for i, err := range errs {
				if err != nil {
					t.Errorf("runner %d: %v", i, err)
				}
				for _, v := range applied[i] {
					seen[v]++
				}
			}
			for _, v := range []int64{1, 2, 3, 4} {
				if seen[v] != 1 {
					t.Errorf("migration %d applied %d times", v, seen[v])
				}
			}
			if n := count(t, db, "SELECT COUNT(*) FROM Orders"); n != 2 {
				t.Errorf("Orders has %d rows, want 2", n)
			}
		})
	}
}

// lostCommit runs a DML step for real, then reports that its commit got
// no answer, as a timeout after the commit reached Spanner would.
type lostCommit struct {
	migration.HistoryStore
	lost bool
}

func (l *lostCommit) ApplyDML(ctx context.Context, lease migration.Lease, stmts []string, rec migration.Record, from int) ([]int64, error) {
	counts, err := l.HistoryStore.ApplyDML(ctx, lease, stmts, rec, from)
	if err != nil || l.lost {
		return counts, err
	}
	l.lost = true
	return nil, spangate.Errorf(spangate.Unavailable, "apply DML: the commit got no answer, so whether it was made is unknown: %w", spangate.ErrOutcomeUnknown)
}

// TestLostCommitOfDMLRunsItOnce: a DML step whose commit was applied but
// whose answer was lost fails the apply with an error that says so (not
// "rolled back"), and the next apply does not run it again.
func TestLostCommitOfDMLRunsItOnce(t *testing.T) {
	db := openDB(t)
	set := mustSet(t, map[string]string{
		"0001_t.sql":    "CREATE TABLE T (Id INT64 NOT NULL, N INT64 NOT NULL) PRIMARY KEY (Id);",
		"0002_seed.sql": "INSERT INTO T (Id, N) VALUES (1, 0);",
		"0003_bump.sql": "UPDATE T SET N = N + 1 WHERE Id = 1;",
	})
	e := engineFor(db, "lost")
	e.History = &lostCommit{HistoryStore: db}
	_, err := e.Apply(t.Context(), set)
	if err == nil || !strings.Contains(err.Error(), "may or may not have been applied") || strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("apply with a lost commit: %v", err)
	}
	if _, err := engineFor(db, "again").Apply(t.Context(), set); err != nil {
		t.Fatalf("the next apply: %v", err)
	}
	if n := count(t, db, "SELECT N FROM T WHERE Id = 1"); n != 1 {
		t.Errorf("N = %d after the bump migration: the DML ran %d times", n, n)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM T"); n != 1 {
		t.Errorf("T has %d rows; the seed ran more than once", n)
	}
}

// mutationLimit refuses, as Spanner does past 80,000 mutations, every DML
// run of more than max statements; the emulator does not enforce the limit.
type mutationLimit struct {
	migration.HistoryStore
	max  int
	runs []int
}

func (m *mutationLimit) ApplyDML(ctx context.Context, lease migration.Lease, stmts []string, rec migration.Record, from int) ([]int64, error) {
	if len(stmts) > m.max {
		return nil, spangate.Errorf(spangate.Invalid, "apply DML: spanner: code = InvalidArgument, desc = The transaction contains too many mutations.")
	}
	m.runs = append(m.runs, len(stmts))
	return m.HistoryStore.ApplyDML(ctx, lease, stmts, rec, from)
}

// TestDMLSplitAtMutationLimit: a file's DML that one commit cannot hold is
// committed in as few parts as the limit allows, each with its progress,
// and every statement runs once.
func TestDMLSplitAtMutationLimit(t *testing.T) {
	db := openDB(t)
	var seed strings.Builder
	for i := 1; i <= 43; i++ {
		fmt.Fprintf(&seed, "INSERT INTO T (Id) VALUES (%d);\n", i)
	}
	set := mustSet(t, map[string]string{
		"0001_t.sql":    "CREATE TABLE T (Id INT64 NOT NULL) PRIMARY KEY (Id);",
		"0002_seed.sql": seed.String(),
	})
	e := engineFor(db, "split")
	limit := &mutationLimit{HistoryStore: db, max: 12}
	e.History = limit
	res, err := e.Apply(t.Context(), set)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM T"); n != 43 {
		t.Errorf("T has %d rows, want 43", n)
	}
	total := 0
	for _, n := range limit.runs {
		total += n
	}
	if total != 43 || len(limit.runs) != 4 {
		t.Errorf("committed runs %v; want 4 parts holding 43 statements", limit.runs)
	}
	if len(res.Applied) != 2 || res.Statements != 44 {
		t.Errorf("result %+v", res)
	}
	p, err := engineFor(db, "plan").Plan(t.Context(), set)
	if err != nil || len(p.Pending) != 0 || len(p.Applied) != 2 {
		t.Errorf("plan after the split apply: %+v %v", p, err)
	}
}

// refusingSchema refuses, before starting it, every batch that holds a
// statement naming the table Refused, as Spanner refuses a statement with
// a schema-level error that the plan's model did not foresee.
type refusingSchema struct {
	migration.SchemaUpdater
	batches [][]string
}

func (r *refusingSchema) UpdateSchema(ctx context.Context, opID string, stmts []string) (int, error) {
	r.batches = append(r.batches, stmts)
	for _, s := range stmts {
		if strings.Contains(s, "Refused") {
			return 0, spangate.Errorf(spangate.Invalid, "schema update refused: %w: InvalidArgument: table Refused is not allowed", migration.ErrNotStarted)
		}
	}
	return r.SchemaUpdater.UpdateSchema(ctx, opID, stmts)
}

// TestRefusedBatchBlamesTheStatement (issue 13.6): a batch spanning four
// files that Spanner refuses as a whole because of one statement in the
// third file: the error names that statement's file and line, the files
// before it and the statement before it in its file are applied, and the
// fourth file stays pending.
func TestRefusedBatchBlamesTheStatement(t *testing.T) {
	db := openDB(t)
	files := map[string]string{
		"0001_a.sql": "CREATE TABLE A (Id INT64 NOT NULL) PRIMARY KEY (Id);",
		"0002_b.sql": "CREATE TABLE B (Id INT64 NOT NULL) PRIMARY KEY (Id);\nCREATE TABLE B2 (Id INT64 NOT NULL) PRIMARY KEY (Id);",
		"0003_c.sql": "CREATE TABLE C (Id INT64 NOT NULL) PRIMARY KEY (Id);\n\nCREATE TABLE Refused (Id INT64 NOT NULL) PRIMARY KEY (Id);\nCREATE TABLE C2 (Id INT64 NOT NULL) PRIMARY KEY (Id);",
		"0004_d.sql": "CREATE TABLE D (Id INT64 NOT NULL) PRIMARY KEY (Id);",
	}
	e := engineFor(db, "refused")
	refusing := &refusingSchema{SchemaUpdater: db}
	e.Schema = refusing
	_, err := e.Apply(t.Context(), mustSet(t, files))
	if err == nil || !strings.Contains(err.Error(), "migrations/0003_c.sql:3: statement 2 of migration 3 failed") || strings.Contains(err.Error(), "unknown") {
		t.Fatalf("apply: %v", err)
	}
	hist, err := db.History(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	for _, r := range hist {
		got[r.Version] = fmt.Sprintf("%s %d/%d", r.State, r.StatementsApplied, r.StatementsTotal)
	}
	want := map[int64]string{1: "applied 1/1", 2: "applied 2/2", 3: "failed 1/3", 4: "applying 0/1"}
	for v, w := range want {
		if got[v] != w {
			t.Errorf("migration %d: %q, want %q (history %v)", v, got[v], w, got)
		}
	}
	if n := count(t, db, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME IN ('A', 'B', 'B2', 'C')"); n != 4 {
		t.Errorf("%d of the tables before the refused statement exist, want 4", n)
	}
	// Fixed, the next apply resumes at the refused statement.
	files["0003_c.sql"] = strings.Replace(files["0003_c.sql"], "Refused", "Accepted", 1)
	if _, err := engineFor(db, "fixed").Apply(t.Context(), mustSet(t, files)); err != nil {
		t.Fatalf("apply after the fix: %v", err)
	}
}

// TestEditedAppliedFilePlan (issue 13.10): after an applied file is edited,
// plan still counts every applied migration and checks drift against the
// content that was applied, so the files after the edit bring no false
// drift.
func TestEditedAppliedFilePlan(t *testing.T) {
	db := openDB(t)
	files := map[string]string{
		"0001_players.sql": "CREATE TABLE Players (Id INT64 NOT NULL, Name STRING(MAX)) PRIMARY KEY (Id);",
		"0002_index.sql":   "CREATE INDEX PlayersByName ON Players (Name);\nALTER TABLE Players ADD COLUMN Score INT64;",
	}
	e := engineFor(db, "test")
	e.LiveSchema = db
	if _, err := e.Apply(t.Context(), mustSet(t, files)); err != nil {
		t.Fatal(err)
	}
	files["0001_players.sql"] = "CREATE TABLE Players (Id INT64 NOT NULL, Nick STRING(MAX)) PRIMARY KEY (Id);"
	p, err := e.Plan(t.Context(), mustSet(t, files))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Applied) != 2 {
		t.Errorf("applied %v, want both migrations", p.Applied)
	}
	modified := 0
	for _, f := range p.Findings {
		switch f.Rule {
		case migration.RuleModified:
			modified++
		case migration.RuleDrift, migration.RuleSchemaError:
			t.Errorf("false finding: %+v", f)
		}
	}
	if modified != 1 || spangate.KindOf(p.Err()) != spangate.Blocked {
		t.Errorf("%d modified-applied-file findings, err %v; want 1, blocked", modified, p.Err())
	}
}

// TestAuthorizeDecidesUnderTheLock: Apply asks Authorize, while it holds
// the lock, about the plan it is about to run (classified against the
// schema it meets), and runs nothing when Authorize refuses.
func TestAuthorizeDecidesUnderTheLock(t *testing.T) {
	db := openDB(t)
	ctx := t.Context()
	set := mustSet(t, map[string]string{
		"0001_orders.sql": "CREATE TABLE Orders (Id INT64 NOT NULL, Note STRING(MAX)) PRIMARY KEY (Id);\nUPDATE Orders SET Note = 'x' WHERE Id = 1;\nDELETE FROM Orders WHERE Note = 'y';",
	})
	var seen []string
	refuse := spangate.Errorf(spangate.Denied, "refused by the test")
	eng := engineFor(db, "applier")
	eng.Authorize = func(ctx context.Context, p *migration.Plan) error {
		if _, err := db.Acquire(ctx, "intruder", time.Second); err == nil {
			t.Error("Authorize ran without the lock held")
		}
		for _, st := range p.PendingStatements() {
			seen = append(seen, fmt.Sprintf("%s:%v", st.Verb, st.Destructive))
		}
		return refuse
	}
	if _, err := eng.Apply(ctx, set); !errors.Is(err, refuse) {
		t.Fatalf("Apply = %v, want the refusal", err)
	}
	want := []string{"CREATE TABLE:false", "UPDATE:false", "DELETE:true"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("Authorize saw %v, want %v", seen, want)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 'Orders'"); n != 0 {
		t.Fatal("a refused plan ran")
	}
	l, err := db.Acquire(ctx, "next", time.Second)
	if err != nil {
		t.Fatalf("the lock was not released: %v", err)
	}
	if err := db.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	eng.Authorize = func(context.Context, *migration.Plan) error { return nil }
	if _, err := eng.Apply(ctx, set); err != nil {
		t.Fatalf("Apply with an allowing Authorize: %v", err)
	}
}
