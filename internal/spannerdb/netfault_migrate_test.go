package spannerdb_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"cloud.google.com/go/spanner"
	"cloud.google.com/go/spanner/apiv1/spannerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/spannerdb"
)

// faultyMigrations mixes schema changes with DML that must not run twice.
var faultyMigrations = map[string]string{
	"0001_counters.sql": "CREATE TABLE Counters (Id INT64 NOT NULL, N INT64 NOT NULL) PRIMARY KEY (Id);",
	"0002_seed.sql":     "INSERT INTO Counters (Id, N) VALUES (1, 0);",
	"0003_bump.sql":     "UPDATE Counters SET N = N + 1 WHERE Id = 1;",
	"0004_index.sql":    "CREATE INDEX CountersByN ON Counters (N);",
	"0005_bump.sql":     "UPDATE Counters SET N = N + 10 WHERE Id = 1;\nINSERT INTO Counters (Id, N) VALUES (2, 5);",
	"0006_note.sql":     "ALTER TABLE Counters ADD COLUMN Note STRING(MAX);",
	"0007_bump.sql":     "UPDATE Counters SET N = N + 100, Note = 'done' WHERE Id = 1;",
}

// TestNetworkFaultsDuringApply applies a history of schema changes and
// non-idempotent DML while a proxy cuts the connections to the emulator
// or lets them go silent, again and again, running apply once more after
// every failure, as a pipeline retrying its step would. Whatever the
// faults interrupted, the end state must be the one a single clean apply
// gives: every DML statement applied exactly once, every schema change
// made, the history complete and the audit chain intact.
func TestNetworkFaultsDuringApply(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	path := emulatortest.NewDatabase(t)
	check := openPath(t, path)
	proxy := emulatortest.NewProxy(t, emulatortest.Host(), 0)
	db, err := spannerdb.Open(t.Context(), path, spannerdb.Options{EmulatorHost: proxy.Addr(), CallTimeout: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set := readSet(t, faultyMigrations)

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var cuts, stalls atomic.Int64
	faults := make(chan struct{})
	go func() {
		defer close(faults)
		// The first fault silences the connections while the first apply
		// runs, so that at least one apply fails part way.
		for first := true; ctx.Err() == nil; first = false {
			time.Sleep(time.Duration(5+rand.IntN(25)) * time.Millisecond)
			if first || rand.IntN(3) == 0 {
				stalls.Add(int64(proxy.Stall()))
				time.Sleep(500 * time.Millisecond)
			}
			cuts.Add(int64(proxy.Cut()))
		}
	}()

	who := actor("deployer")
	who.Action = ""
	var failures []string
	deadline := time.Now().Add(90 * time.Second)
	for attempt := 1; ; attempt++ {
		eng := &migration.Engine{Locks: db, History: db.WithAudit(who, set.Files...), Schema: db, Partitioned: db,
			Holder: "test", LockTTL: 2 * time.Second, LockTimeout: 10 * time.Second}
		_, err := eng.Apply(t.Context(), set)
		if err == nil {
			t.Logf("applied after %d attempts; %d cuts, %d connections stalled", attempt, cuts.Load(), stalls.Load())
			break
		}
		failures = append(failures, err.Error())
		if time.Now().After(deadline) {
			t.Fatalf("no clean apply in 90 s (%d attempts); last error: %v", attempt, err)
		}
	}
	stop()
	<-faults
	if len(failures) == 0 {
		t.Error("every apply succeeded at once: the faults did not interrupt the work")
	}
	for _, f := range failures {
		t.Logf("failed attempt: %s", f)
	}

	// The end state of one clean apply.
	rows := map[int64]int64{}
	notes := map[int64]string{}
	if err := check.Client().Single().Query(t.Context(), spanner.NewStatement("SELECT Id, N, Note FROM Counters")).Do(func(r *spanner.Row) error {
		var id, n int64
		var note spanner.NullString
		if err := r.Columns(&id, &n, &note); err != nil {
			return err
		}
		rows[id], notes[id] = n, note.StringVal
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[1] != 111 || rows[2] != 5 || notes[1] != "done" {
		t.Errorf("counters = %v, notes %v; want 1: 111 (each bump once), 2: 5", rows, notes)
	}
	ddl, err := check.Schema(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(ddl, "\n"); !strings.Contains(text, "CountersByN") || !strings.Contains(text, "Note STRING(MAX)") {
		t.Errorf("schema lacks the index or the column:\n%s", text)
	}
	hist, err := check.History(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range migration.Statuses(set, hist) {
		if st.State != migration.StatusApplied {
			t.Errorf("migration %+v is not applied after the clean apply", st)
		}
	}
	if r := verify(t, check); !r.OK {
		t.Errorf("verify = %+v", r)
	}
}

// TestFailureRecordNeverSetsProgressBack replays what the engine does when
// a DML step's commit got no answer although it was applied: the DML and
// its history row committed, and the engine, which saw an error, saves
// its record of a failure with the old progress. The stored progress must
// stay, or the next apply would run the DML again; through both the plain
// and the audited history.
func TestFailureRecordNeverSetsProgressBack(t *testing.T) {
	db, _ := openAudited(t)
	who := actor("deployer")
	who.Action = ""
	for _, tc := range []struct {
		name    string
		version int64
		history migration.HistoryStore
	}{
		{"plain", 1, db},
		{"audited", 2, db.WithAudit(who)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := db.Acquire(t.Context(), "test", 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Release(t.Context(), l)
			start := migration.Record{Version: tc.version, Name: "bump", State: migration.StateApplying, StatementsTotal: 1}
			done := start
			done.StatementsApplied, done.State = 1, migration.StateApplied
			if _, err := tc.history.ApplyDML(t.Context(), l, []string{"INSERT INTO Orders (Id) VALUES (" + strconv.FormatInt(100+tc.version, 10) + ")"}, done, 0); err != nil {
				t.Fatal(err)
			}
			failed := start
			failed.State, failed.Failures, failed.Error = migration.StateFailed, 1, "commit got no answer"
			if err := tc.history.Save(t.Context(), l, failed); err != nil {
				t.Fatal(err)
			}
			hist, err := db.History(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range hist {
				if r.Version == tc.version && (r.StatementsApplied != 1 || r.State != migration.StateApplied) {
					t.Errorf("history after the failure record = %+v; want 1 statement applied, state applied", r)
				}
			}
			// A second ApplyDML from the old progress, as the next apply
			// would send if the progress had gone back, must not run.
			if _, err := tc.history.ApplyDML(t.Context(), l, []string{"INSERT INTO Orders (Id) VALUES (" + strconv.FormatInt(100+tc.version, 10) + ")"}, done, 0); err != nil {
				t.Errorf("the repeated step: %v", err)
			}
		})
	}
}

// readSet reads files (name to content) as a migrations directory.
func readSet(t testing.TB, files map[string]string) *migration.Set {
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

// TestLostCommitAnswerDuringApply makes the commit of one DML step reach
// the emulator and then takes its answer away, through the real audited
// history and engine: once as a timeout, once as the run being
// interrupted at that moment. Either way apply must say the step may or
// may not have been applied, never that it was rolled back, and the next
// apply must not run it again.
func TestLostCommitAnswerDuringApply(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind spangate.Kind
	}{
		{"timeout", spangate.Unavailable},
		{"interrupted", spangate.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := emulatortest.NewDatabase(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var lost atomic.Bool
			intercept := grpc.WithChainUnaryInterceptor(func(ictx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				err := invoker(ictx, method, req, reply, cc, opts...)
				cr, ok := req.(*spannerpb.CommitRequest)
				if err != nil || !ok || !auditsStatement(cr, "UPDATE T") || !lost.CompareAndSwap(false, true) {
					return err
				}
				if tc.kind == spangate.Canceled {
					cancel()
					return status.Error(codes.Canceled, "context canceled (injected after the commit was applied)")
				}
				return status.Error(codes.DeadlineExceeded, "context deadline exceeded (injected after the commit was applied)")
			})
			db, err := spannerdb.Open(t.Context(), path, spannerdb.Options{ClientOptions: []option.ClientOption{option.WithGRPCDialOption(intercept)}})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			set := readSet(t, map[string]string{
				"0001_t.sql":    "CREATE TABLE T (Id INT64 NOT NULL, N INT64 NOT NULL) PRIMARY KEY (Id);",
				"0002_seed.sql": "INSERT INTO T (Id, N) VALUES (1, 0);",
				"0003_bump.sql": "UPDATE T SET N = N + 1 WHERE Id = 1;",
			})
			who := actor("deployer")
			who.Action = ""
			engine := func() *migration.Engine {
				return &migration.Engine{Locks: db, History: db.WithAudit(who, set.Files...), Schema: db, Partitioned: db,
					Holder: "test", LockTTL: 3 * time.Second, LockTimeout: 30 * time.Second}
			}
			_, err = engine().Apply(ctx, set)
			if !lost.Load() {
				t.Fatalf("the UPDATE's commit was never seen: %v", err)
			}
			if err == nil || spangate.KindOf(err) != tc.kind || !strings.Contains(err.Error(), "may or may not have been applied") || strings.Contains(err.Error(), "rolled back") {
				t.Fatalf("apply whose commit answer was lost: kind %v: %v", spangate.KindOf(err), err)
			}
			if _, err := engine().Apply(t.Context(), set); err != nil {
				t.Fatalf("the next apply: %v", err)
			}
			row, err := db.Client().Single().ReadRow(t.Context(), "T", spanner.Key{int64(1)}, []string{"N"})
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			if err := row.Columns(&n); err != nil || n != 1 {
				t.Errorf("N = %d (%v): the UPDATE ran %d times", n, err, n)
			}
			if r := verify(t, db); !r.OK {
				t.Errorf("verify = %+v", r)
			}
		})
	}
}

// auditsStatement reports whether a commit writes an audit entry whose
// statement starts with prefix.
func auditsStatement(cr *spannerpb.CommitRequest, prefix string) bool {
	for _, m := range cr.GetMutations() {
		w := m.GetInsert()
		if w == nil || w.GetTable() != spannerdb.AuditTable {
			continue
		}
		col := slices.Index(w.GetColumns(), "Statement")
		for _, row := range w.GetValues() {
			if col >= 0 && strings.HasPrefix(row.GetValues()[col].GetStringValue(), prefix) {
				return true
			}
		}
	}
	return false
}
