package spannerdb_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/spannerdb"
)

// groupCall is one ExecDML call of a group test and what it got.
type groupCall struct {
	sql    string
	params map[string]any
	actor  *audit.Entry // default actor("callerN")
	rows   int64
	entry  audit.Entry
	err    error
}

// runConcurrently makes every call from its own goroutine while a slow
// statement of its own runs (an insert of 500 rows into Tags), so that the
// calls queue and run as a group. It returns when all are done.
func runConcurrently(t *testing.T, db *spannerdb.DB, calls []*groupCall) {
	t.Helper()
	blocker := make(chan error, 1)
	go func() {
		_, _, err := db.ExecDML(t.Context(), "INSERT INTO Tags (Name) SELECT GENERATE_UUID() FROM UNNEST(GENERATE_ARRAY(1, 500))", nil, actor("blocker"))
		blocker <- err
	}()
	for !db.GroupRunning() {
		time.Sleep(50 * time.Microsecond)
	}
	var wg sync.WaitGroup
	for i, c := range calls {
		e := actor(fmt.Sprintf("caller%d", i))
		if c.actor != nil {
			e = *c.actor
		}
		wg.Go(func() {
			c.rows, c.entry, c.err = db.ExecDML(t.Context(), c.sql, c.params, e)
		})
	}
	wg.Wait()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommit runs many concurrent inserts and updates, some whose
// keys are read off the text (run as one batch) and some whose keys need a
// THEN RETURN, and checks that statements were grouped and that each has
// its own entry with its own keys and count, in a chain that verifies.
func TestGroupCommit(t *testing.T) {
	db, _ := openAudited(t)
	for round := range 10 {
		var calls []*groupCall
		for w := range 8 {
			id := int64(round*100 + w)
			calls = append(calls, &groupCall{sql: "INSERT INTO Orders (Id, Note) VALUES (@id, @note)",
				params: map[string]any{"id": id, "note": fmt.Sprintf("r%d", round)}})
		}
		if round > 0 {
			// Keys found only by THEN RETURN: every row of the last round.
			calls = append(calls, &groupCall{sql: "UPDATE Orders SET Note = 'seen' WHERE Note = @note",
				params: map[string]any{"note": fmt.Sprintf("r%d", round-1)}})
		}
		runConcurrently(t, db, calls)
		for _, c := range calls {
			if c.err != nil {
				t.Fatalf("%s: %v", c.sql, c.err)
			}
			want := []string{fmt.Sprintf("[%d]", c.params["id"])}
			if strings.HasPrefix(c.sql, "UPDATE") {
				if c.rows > 8 {
					t.Errorf("update of round %d changed %d rows", round, c.rows)
				}
				want = c.entry.Keys // checked below against the rows
			}
			if c.entry.Result != audit.ResultOK || c.entry.Rows != c.rows || !slices.Equal(c.entry.Keys, want) || c.entry.Table != "Orders" {
				t.Fatalf("%s %v: entry %s %d rows %q in %s, call rows %d", c.sql, c.params, c.entry.Result, c.entry.Rows, c.entry.Keys, c.entry.Table, c.rows)
			}
		}
	}
	if r := verify(t, db); !r.OK || r.Entries < 80+9+10 {
		t.Fatalf("verify = %+v", r)
	}
	// Every row has one entry for its insert and at most one for the
	// update that marked it seen, and the row's history names its caller.
	for round := range 10 {
		for w := range 8 {
			got, err := db.ListAudit(t.Context(), audit.Filter{Table: "Orders", Key: fmt.Sprint(round*100 + w)})
			if err != nil {
				t.Fatal(err)
			}
			inserts := 0
			for _, e := range got {
				if strings.HasPrefix(e.Statement, "INSERT") {
					inserts++
				}
			}
			if inserts != 1 || len(got) > 2 {
				t.Errorf("row %d: %d entries, %d inserts", round*100+w, len(got), inserts)
			}
		}
	}
	if n := countRows(t, db, "SELECT COUNT(*) AS n FROM Orders WHERE Note = 'seen'"); n != 72 {
		t.Errorf("%d rows seen, want 72 (rounds 0 to 8)", n)
	}
	st := db.AuditStats()
	t.Logf("%d of %d statements committed in %d groups", st.GroupedStatements, 80+9, st.Groups)
	if st.GroupedStatements < 45 || st.Groups == 0 || st.Groups > st.GroupedStatements/2 {
		t.Error("no statement was grouped: the test did not exercise group commit")
	}
}

// TestGroupFailureIsolated mixes statements that fail (a duplicate key)
// with statements that succeed in the same groups: each failing caller
// gets its own error and a "failed" entry, and no succeeding caller is
// affected, its change committed once.
func TestGroupFailureIsolated(t *testing.T) {
	db, _ := openAudited(t)
	if _, _, err := db.ExecDML(t.Context(), "INSERT INTO Orders (Id) VALUES (1)", nil, actor("seed")); err != nil {
		t.Fatal(err)
	}
	var calls []*groupCall
	for round := range 6 {
		var batch []*groupCall
		for w := range 8 {
			id := int64(100 + round*10 + w)
			if w%3 == 0 {
				id = 1 // exists
			}
			batch = append(batch, &groupCall{sql: "INSERT INTO Orders (Id) VALUES (@id)", params: map[string]any{"id": id}})
		}
		runConcurrently(t, db, batch)
		calls = append(calls, batch...)
	}
	ok := 0
	for _, c := range calls {
		dup := c.params["id"] == int64(1)
		switch {
		case dup && (c.err == nil || c.entry.Result != audit.ResultFailed):
			t.Errorf("duplicate insert: err %v, entry %+v", c.err, c.entry)
		case !dup && c.err != nil:
			t.Errorf("insert %v failed with its group: %v", c.params["id"], c.err)
		case !dup:
			ok++
		}
	}
	if n := countRows(t, db, "SELECT COUNT(*) AS n FROM Orders"); n != int64(ok+1) {
		t.Errorf("%d rows, want %d", n, ok+1)
	}
	if r := verify(t, db); !r.OK || r.Entries != int64(len(calls)+1+6) {
		t.Errorf("verify = %+v, want %d entries (one per call, the seed and 6 blockers)", r, len(calls)+1+6)
	}
	st := db.AuditStats()
	t.Logf("grouped %d, sent back to run alone %d", st.GroupedStatements, st.GroupFallbacks)
	if st.GroupFallbacks < int64(len(calls)/2) {
		t.Error("no group failed: the test did not exercise the fallback")
	}
}

// TestGroupCanceledWhileQueued cancels a call that waits for a running
// statement: it returns Canceled and its statement never runs. (A
// statement that finished in the meantime would make the call run at once
// with its canceled context, with the same outcome.)
func TestGroupCanceledWhileQueued(t *testing.T) {
	db, _ := openAudited(t)
	slow := make(chan error, 1)
	go func() {
		_, _, err := db.ExecDML(t.Context(), "INSERT INTO Orders (Id) SELECT x FROM UNNEST(GENERATE_ARRAY(1000, 3000)) AS x", nil, actor("slow"))
		slow <- err
	}()
	for !db.GroupRunning() {
		time.Sleep(100 * time.Microsecond)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := db.ExecDML(ctx, "INSERT INTO Orders (Id) VALUES (1)", nil, actor("canceled"))
	if spangate.KindOf(err) != spangate.Canceled {
		t.Fatalf("err = %v (kind %v), want Canceled", err, spangate.KindOf(err))
	}
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "SELECT COUNT(*) AS n FROM Orders WHERE Id = 1"); n != 0 {
		t.Fatal("the canceled statement ran")
	}
	if r := verify(t, db); !r.OK {
		t.Fatalf("verify = %+v", r)
	}
}

// TestGroupEntryTooLarge puts a call whose audit entry is refused (over
// the size an entry may hold) in a group: that call fails with Unavailable
// and commits nothing; the others commit.
func TestGroupEntryTooLarge(t *testing.T) {
	db, _ := openAudited(t)
	huge := actor("huge")
	huge.Statement = strings.Repeat("x", 5<<20)
	var calls []*groupCall
	for id := range 6 {
		c := &groupCall{sql: "INSERT INTO Orders (Id) VALUES (@id)", params: map[string]any{"id": int64(id)}}
		if id == 3 {
			c.actor = &huge
		}
		calls = append(calls, c)
	}
	runConcurrently(t, db, calls)
	for id, c := range calls {
		switch {
		case id == 3 && spangate.KindOf(c.err) != spangate.Unavailable:
			t.Errorf("the call with the huge entry: err = %v (kind %v), want Unavailable", c.err, spangate.KindOf(c.err))
		case id != 3 && c.err != nil:
			t.Errorf("call %d failed with its group: %v", id, c.err)
		}
	}
	if n := countRows(t, db, "SELECT COUNT(*) AS n FROM Orders"); n != 5 {
		t.Errorf("%d rows, want 5 (all but the one whose entry was refused)", n)
	}
	if r := verify(t, db); !r.OK {
		t.Errorf("verify = %+v", r)
	}
}
