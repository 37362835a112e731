package migration_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/spannerdb"
)

// slowHistory's first file makes a schema operation that takes a while on
// the emulator (two index backfills over bigRows rows) and creates a table,
// so that sending it twice would fail with a duplicate name; the others
// hold DML that must run exactly once.
var slowHistory = map[string]string{
	"0001_t19.sql": `CREATE TABLE T19 (Id INT64 NOT NULL, N INT64 NOT NULL) PRIMARY KEY (Id);
CREATE INDEX BigByA ON Big (A);
CREATE INDEX BigByB ON Big (B, A);`,
	"0002_seed.sql": "INSERT INTO T19 (Id, N) VALUES (1, 0);",
	"0003_more.sql": `ALTER TABLE T19 ADD COLUMN Note STRING(MAX);
UPDATE T19 SET N = N + 1 WHERE Id = 1;`,
}

const bigRows = 4000

// bigDatabase creates a database with the table Big of bigRows rows.
func bigDatabase(t *testing.T) string {
	t.Helper()
	path := emulatortest.NewDatabase(t, "CREATE TABLE Big (Id INT64 NOT NULL, A STRING(MAX), B INT64) PRIMARY KEY (Id)")
	c, err := spanner.NewClient(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ms []*spanner.Mutation
	for i := range bigRows {
		ms = append(ms, spanner.Insert("Big", []string{"Id", "A", "B"}, []any{int64(i), fmt.Sprint("v", i), int64(i % 97)}))
		if len(ms) == 1000 {
			if _, err := c.Apply(t.Context(), ms); err != nil {
				t.Fatal(err)
			}
			ms = nil
		}
	}
	return path
}

// killedAtSend stands in for a process killed just after it sent a schema
// operation: the operation goes on in Spanner (sent here on a context
// that outlives the run), while the run's call returns at once without an
// answer. sent is closed once the operation has ended.
type killedAtSend struct {
	*spannerdb.DB
	sent chan struct{}
}

func (k *killedAtSend) UpdateSchema(ctx context.Context, opID string, stmts []string) (int, error) {
	go func() {
		defer close(k.sent)
		_, _ = k.DB.UpdateSchema(context.WithoutCancel(ctx), opID, stmts)
	}()
	return -1, spangate.Errorf(spangate.Canceled, "schema update %s: the process was killed (injected)", opID)
}

func noSchemaError(t *testing.T, what string, p *migration.Plan) {
	t.Helper()
	for _, f := range p.Findings {
		if f.Severity == migration.SeverityError {
			t.Errorf("%s: error finding %s:%d [%s] %s", what, f.File, f.Line, f.Rule, f.Message)
		}
	}
	if p.Blocked() {
		t.Errorf("%s: plan is blocked", what)
	}
}

func hasRule(fs []migration.Finding, rule string) bool {
	for _, f := range fs {
		if f.Rule == rule {
			return true
		}
	}
	return false
}

// TestPlanStatusApplyAfterKillDuringSchemaOperation is issue 18.1 and
// 13.9 in direct mode: a run dies while the schema operation it sent goes
// on. Plan and status, while the operation runs and after it ended, show
// the files in flight or applied, never a schema error; apply re-attaches
// and runs the rest exactly once.
func TestPlanStatusApplyAfterKillDuringSchemaOperation(t *testing.T) {
	path := bigDatabase(t)
	db, err := spannerdb.Open(t.Context(), path, spannerdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set := mustSet(t, slowHistory)
	killed := &killedAtSend{DB: db, sent: make(chan struct{})}
	e := engineFor(db, "killed")
	e.LiveSchema = db
	e.Schema = killed
	if _, err := e.Apply(t.Context(), set); spangate.KindOf(err) != spangate.Canceled {
		t.Fatalf("killed apply: kind %v (%v), want canceled", spangate.KindOf(err), err)
	}

	fresh := func() *migration.Engine {
		e := engineFor(db, "next")
		e.LiveSchema = db
		return e
	}
	// While the operation may still run: in flight, not an error.
	p, err := fresh().Plan(t.Context(), set)
	if err != nil {
		t.Fatal(err)
	}
	noSchemaError(t, "plan during the operation", p)
	inFlight := len(p.Pending) > 0 && p.Pending[0].Version == 1 && p.Pending[0].InFlight != ""
	applied := len(p.Applied) == 1 && p.Applied[0] == 1
	if !inFlight && !applied {
		t.Errorf("plan during the operation: 0001 neither in flight nor applied: applied %v, pending %+v", p.Applied, p.Pending)
	}
	if !hasRule(p.Findings, migration.RuleInFlight) {
		t.Errorf("plan during the operation says nothing about it: %+v", p.Findings)
	}
	hist, _, err := fresh().SettledHistory(t.Context(), set.Files)
	if err != nil {
		t.Fatal(err)
	}
	if st := migration.Statuses(set, hist)[0]; st.State != migration.StatusApplying && st.State != migration.StatusApplied {
		t.Errorf("status during the operation: %+v, want applying or applied", st)
	} else if st.State == migration.StatusApplying && (st.Operation == "" || !strings.Contains(st.Note, "re-attaches")) {
		t.Errorf("status during the operation does not name it: %+v", st)
	}

	// Once it has ended: applied (the history still says applying).
	<-killed.sent
	p, err = fresh().Plan(t.Context(), set)
	if err != nil {
		t.Fatal(err)
	}
	noSchemaError(t, "plan after the operation", p)
	if len(p.Applied) != 1 || p.Applied[0] != 1 || len(p.Pending) != 2 || p.Pending[0].Version != 2 {
		t.Errorf("plan after the operation: applied %v, pending %+v; want [1] and 0002, 0003", p.Applied, p.Pending)
	}
	raw, err := db.History(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !raw[0].Unsettled() {
		t.Fatalf("plan wrote the history: %+v", raw[0])
	}
	hist, _, err = fresh().SettledHistory(t.Context(), set.Files)
	if err != nil {
		t.Fatal(err)
	}
	sts := migration.Statuses(set, hist)
	if sts[0].State != migration.StatusApplied || sts[1].State != migration.StatusPending {
		t.Errorf("status after the operation: %+v", sts)
	}

	res, err := fresh().Apply(t.Context(), set)
	if err != nil {
		t.Fatalf("apply after the kill: %v", err)
	}
	// 0001 was applied by the killed run's operation; this run records it.
	if fmt.Sprint(res.Applied) != "[2 3]" || res.SchemaOperations != 1 {
		t.Errorf("apply: applied %v in %d schema operations; want [2 3] in 1", res.Applied, res.SchemaOperations)
	}
	if n := count(t, db, "SELECT N FROM T19 WHERE Id = 1"); n != 1 {
		t.Errorf("T19.N = %d, want 1 (each DML once)", n)
	}
	hist, err = db.History(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range migration.Statuses(set, hist) {
		if st.State != migration.StatusApplied {
			t.Errorf("after apply: %+v", st)
		}
	}
}

// TestApplyRightAfterKillReattaches runs the next apply at once, while
// the killed run's operation may still be running: apply re-attaches (or
// sends it under the same ID, which joins it) and nothing runs twice.
func TestApplyRightAfterKillReattaches(t *testing.T) {
	path := bigDatabase(t)
	db, err := spannerdb.Open(t.Context(), path, spannerdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set := mustSet(t, slowHistory)
	killed := &killedAtSend{DB: db, sent: make(chan struct{})}
	e := engineFor(db, "killed")
	e.LiveSchema = db
	e.Schema = killed
	if _, err := e.Apply(t.Context(), set); spangate.KindOf(err) != spangate.Canceled {
		t.Fatalf("killed apply: kind %v (%v), want canceled", spangate.KindOf(err), err)
	}
	next := engineFor(db, "next")
	next.LiveSchema = db
	if _, err := next.Apply(t.Context(), set); err != nil {
		t.Fatalf("apply after the kill: %v", err)
	}
	<-killed.sent
	if n := count(t, db, "SELECT N FROM T19 WHERE Id = 1"); n != 1 {
		t.Errorf("T19.N = %d, want 1", n)
	}
	ddl, err := db.Schema(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(ddl, "\n"); !strings.Contains(s, "BigByA") || !strings.Contains(s, "BigByB") || !strings.Contains(s, "Note STRING(MAX)") {
		t.Errorf("schema lacks the migrations' objects:\n%s", s)
	}
}

// TestInFlightPlanWithoutInspector: a history row naming an operation not
// seen to end is planned as in flight, its statements part of the schema
// the rest is linted against, when nothing can look the operation up.
func TestInFlightPlanWithoutInspector(t *testing.T) {
	set := mustSet(t, map[string]string{
		"0001_a.sql": "CREATE TABLE A (Id INT64 NOT NULL) PRIMARY KEY (Id);\nCREATE TABLE B (Id INT64 NOT NULL) PRIMARY KEY (Id);",
		"0002_b.sql": "CREATE INDEX BById ON B (Id);",
	})
	f := set.Files[0]
	hist := []migration.Record{{Version: 1, Name: f.Name, Checksum: f.Checksum, State: migration.StateApplying,
		StatementsApplied: 1, StatementsTotal: 2, PrefixChecksum: migration.PrefixChecksum(f, 1),
		OperationName: "spangate_op", OpStart: 1, OpCount: 1, AppliedBy: "ci"}}
	p := migration.NewPlan(set, hist)
	noSchemaError(t, "plan", p)
	if len(p.Pending) != 2 || p.Pending[0].InFlight != "spangate_op" || p.Pending[0].ResumeAt != 2 || p.Statements != 1 {
		t.Errorf("pending %+v (%d statements); want 0001 in flight with nothing left, then 0002's one statement", p.Pending, p.Statements)
	}
	sts := migration.Statuses(set, hist)
	if sts[0].State != migration.StatusApplying || sts[0].Operation != "spangate_op" || sts[0].Progress != "1/2" {
		t.Errorf("status %+v, want applying with the operation", sts[0])
	}
	// An edit while the operation is in flight blocks.
	edited := mustSet(t, map[string]string{"0001_a.sql": "CREATE TABLE A (Id INT64 NOT NULL) PRIMARY KEY (Id);\nCREATE TABLE C (Id INT64 NOT NULL) PRIMARY KEY (Id);"})
	if p := migration.NewPlan(edited, hist); !p.Blocked() || !hasRule(p.Findings, migration.RuleModified) {
		t.Errorf("edited in-flight file: findings %+v, want modified-applied-file", p.Findings)
	}
}

// TestStatusOfInterruptedFile: a file a killed run left part-way (no
// operation in flight, no error) is "applying" with a note, not "failed"
// without a word.
func TestStatusOfInterruptedFile(t *testing.T) {
	set := mustSet(t, history)
	f := set.Files[3]
	hist := []migration.Record{{Version: f.Version, Name: f.Name, Checksum: f.Checksum, State: migration.StateApplying,
		StatementsApplied: 2, StatementsTotal: 3, AppliedBy: "ci@host pid 7"}}
	st := migration.Statuses(set, hist)[3]
	if st.State != migration.StatusApplying || st.Progress != "2/3" || !strings.Contains(st.Note, "resumes at statement 3") || !strings.Contains(st.Note, "ci@host pid 7") {
		t.Errorf("status %+v; want applying 2/3 with a note naming the run and where apply resumes", st)
	}
	hist[0].State, hist[0].Error = migration.StateFailed, "boom"
	if st := migration.Statuses(set, hist)[3]; st.State != migration.StatusFailed || st.Error != "boom" {
		t.Errorf("failed status %+v", st)
	}
}
