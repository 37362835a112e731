package spannerdb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/spannerdb"
)

func TestMain(m *testing.M) { emulatortest.Main(m) }

// userTables are the tables the DML tests change: a plain key, a
// composite key with a DESC part, and a string key.
var userTables = []string{
	"CREATE TABLE Orders (Id INT64 NOT NULL, Note STRING(MAX)) PRIMARY KEY (Id)",
	"CREATE TABLE Lines (OrderId INT64 NOT NULL, Sku STRING(32) NOT NULL, Qty INT64) PRIMARY KEY (OrderId, Sku DESC)",
	"CREATE TABLE Tags (Name STRING(64) NOT NULL, Color STRING(16)) PRIMARY KEY (Name)",
}

// openAudited opens a fresh database with the user tables and spangate's
// tables, and returns a path so that tests can open a second client.
func openAudited(t testing.TB) (*spannerdb.DB, string) {
	t.Helper()
	path := emulatortest.NewDatabase(t, userTables...)
	return openPath(t, path), path
}

func openPath(t testing.TB, path string) *spannerdb.DB {
	t.Helper()
	db, err := spannerdb.Open(context.Background(), path, spannerdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func actor(principal string) audit.Entry {
	return audit.Entry{
		Principal: principal, Issuer: "github", Subject: "repo:acme/orders:ref:refs/heads/main",
		Attributes: map[string]string{"repository": "acme/orders"},
		Run:        spangate.RunMetadata{CI: "github", Commit: "abc123", Pipeline: "deploy", Build: "7"},
		Action:     "write", Database: "orders",
	}
}

func verify(t testing.TB, db *spannerdb.DB) audit.VerifyResult {
	t.Helper()
	r, err := db.VerifyAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAppendAuditChainVerifies(t *testing.T) {
	db, _ := openAudited(t)
	ctx := t.Context()
	var prev string
	for i := range 5 {
		e := actor(fmt.Sprintf("p%d", i))
		e.Action, e.Result, e.Reason = "read", audit.ResultDenied, "no rule allows read"
		got, err := db.AppendAudit(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if got.Seq != int64(i+1) || got.PrevHash != prev || got.Hash == "" {
			t.Fatalf("entry %d: seq %d prev %q hash %q; want seq %d prev %q", i, got.Seq, got.PrevHash, got.Hash, i+1, prev)
		}
		prev = got.Hash
	}
	if r := verify(t, db); !r.OK || r.Entries != 5 {
		t.Fatalf("verify = %+v; want ok with 5 entries", r)
	}
	var seqs []int64
	if err := db.ScanAudit(ctx, func(e audit.Entry) error { seqs = append(seqs, e.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("scan = %v", seqs)
	}
}

func TestExecDMLRecordsKeys(t *testing.T) {
	db, _ := openAudited(t)
	ctx := t.Context()
	tests := []struct {
		name   string
		sql    string
		params map[string]any
		rows   int64
		table  string
		keys   []string
	}{
		{"insert", "INSERT INTO Orders (Id, Note) VALUES (1, 'a'), (2, @note)", map[string]any{"note": "secret"}, 2, "Orders", []string{"[1]", "[2]"}},
		{"update", "UPDATE Orders SET Note = 'b' WHERE Id = @id", map[string]any{"id": int64(2)}, 1, "Orders", []string{"[2]"}},
		{"composite desc insert", "INSERT INTO Lines (OrderId, Sku, Qty) VALUES (1, 'x', 1), (1, 'y', 2), (2, 'x', 3)", nil, 3, "Lines", []string{`[1,"y"]`, `[1,"x"]`, `[2,"x"]`}},
		{"composite delete", "DELETE FROM Lines WHERE OrderId = 1 AND Sku = 'x'", nil, 1, "Lines", []string{`[1,"x"]`}},
		{"string key, lower-case table", "insert into tags (Name) values ('red')", nil, 1, "Tags", []string{`["red"]`}},
		{"no rows", "UPDATE Orders SET Note = 'z' WHERE Id = 99", nil, 0, "Orders", nil},
		{"alias", "UPDATE Orders o SET o.Note = 'c' WHERE o.Id = 2", nil, 1, "Orders", []string{"[2]"}},
		{"insert or update", "INSERT OR UPDATE INTO Orders (Id, Note) VALUES (2, 'd'), (3, 'e')", nil, 2, "Orders", []string{"[2]", "[3]"}},
		{"insert or ignore", "INSERT OR IGNORE INTO Orders (Id, Note) VALUES (3, 'f'), (4, 'g')", nil, 1, "Orders", []string{"[4]"}},
		{"comment and quoted name", "-- fix\nUPDATE `Orders` SET Note = NULL WHERE Id = 4 /* done */", nil, 1, "Orders", []string{"[4]"}},
		{"delete", "DELETE FROM Orders WHERE Id = 1", nil, 1, "Orders", []string{"[1]"}},
		// Keys read off the text when the WHERE binds the whole key; the
		// others go through THEN RETURN.
		{"key and another condition, no match", "UPDATE Orders SET Note = 'x' WHERE Id = 2 AND Note = 'nope'", nil, 0, "Orders", nil},
		{"contradictory key", "UPDATE Orders SET Note = 'x' WHERE Id = 2 AND (Id = 3)", nil, 0, "Orders", nil},
		{"range (THEN RETURN)", "UPDATE Orders SET Note = 'r' WHERE Id >= 2 AND Id <= 3", nil, 2, "Orders", []string{"[2]", "[3]"}},
		{"or (THEN RETURN)", "UPDATE Orders SET Note = 's' WHERE Id = 2 OR Id = 4", nil, 2, "Orders", []string{"[2]", "[4]"}},
		{"half a composite key (THEN RETURN)", "DELETE FROM Lines WHERE OrderId = 2", nil, 1, "Lines", []string{`[2,"x"]`}},
		{"parameter of another type (THEN RETURN)", "UPDATE Orders SET Note = 't' WHERE Id = CAST(@id AS INT64)", map[string]any{"id": "3"}, 1, "Orders", []string{"[3]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, e, err := db.ExecDML(ctx, tc.sql, tc.params, actor("ci"))
			if err != nil {
				t.Fatal(err)
			}
			if rows != tc.rows || e.Rows != tc.rows || e.Table != tc.table || e.KeysIncomplete {
				t.Errorf("rows %d, entry rows %d table %q incomplete %v; want %d, %q", rows, e.Rows, e.Table, e.KeysIncomplete, tc.rows, tc.table)
			}
			if !sameSet(e.Keys, tc.keys) {
				t.Errorf("keys = %v, want %v", e.Keys, tc.keys)
			}
			if e.Result != audit.ResultOK || e.Statement == "" {
				t.Errorf("entry = %+v", e)
			}
			for name, v := range e.Params {
				if !strings.HasPrefix(v, "sha256:") || strings.Contains(v, "secret") {
					t.Errorf("param %s stored as %q", name, v)
				}
			}
		})
	}
	if r := verify(t, db); !r.OK || r.Entries != int64(len(tests)) {
		t.Fatalf("verify = %+v", r)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// apply writes raw mutations behind the adapter's back.
func apply(t testing.TB, db *spannerdb.DB, ms ...*spanner.Mutation) {
	t.Helper()
	if _, err := db.Client().Apply(context.Background(), ms); err != nil {
		t.Fatal(err)
	}
}

func entries(t testing.TB, db *spannerdb.DB) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	if err := db.ScanAudit(context.Background(), func(e audit.Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// rewrite replaces the stored row of e.Seq with e as given.
func rewrite(t testing.TB, db *spannerdb.DB, e audit.Entry) {
	t.Helper()
	ms, err := spannerdb.AuditRowMutations(e)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, db, append([]*spanner.Mutation{spanner.Delete(spannerdb.AuditTable, spanner.Key{e.Seq})}, ms[0])...)
}

func TestVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *spannerdb.DB, es []audit.Entry)
		bad    int64
	}{
		{"untouched", func(*testing.T, *spannerdb.DB, []audit.Entry) {}, 0},
		{"statement edited with a raw mutation", func(t *testing.T, db *spannerdb.DB, _ []audit.Entry) {
			apply(t, db, spanner.Update(spannerdb.AuditTable, []string{"Seq", "Statement"}, []any{int64(3), "SELECT 1"}))
		}, 3},
		{"keys edited", func(t *testing.T, db *spannerdb.DB, _ []audit.Entry) {
			apply(t, db, spanner.Update(spannerdb.AuditTable, []string{"Seq", "Keys"}, []any{int64(4), []string{"[99]"}}))
		}, 4},
		{"row deleted", func(t *testing.T, db *spannerdb.DB, _ []audit.Entry) {
			apply(t, db, spanner.Delete(spannerdb.AuditTable, spanner.Key{int64(2)}))
		}, 2},
		{"last row deleted", func(t *testing.T, db *spannerdb.DB, _ []audit.Entry) {
			apply(t, db, spanner.Delete(spannerdb.AuditTable, spanner.Key{int64(6)}))
		}, 6},
		{"two rows' contents swapped", func(t *testing.T, db *spannerdb.DB, es []audit.Entry) {
			a, b := es[1], es[4]
			a.Seq, b.Seq = 5, 2
			rewrite(t, db, a)
			rewrite(t, db, b)
		}, 2},
		{"row rewritten and re-hashed, next link not fixed", func(t *testing.T, db *spannerdb.DB, es []audit.Entry) {
			e := es[2]
			e.Principal, e.Statement = "someone-innocent", "UPDATE Orders SET Note = 'ok' WHERE Id = 1"
			e.Seal(e.PrevHash)
			rewrite(t, db, e)
		}, 3},
		{"row deleted and the rest re-chained", func(t *testing.T, db *spannerdb.DB, es []audit.Entry) {
			apply(t, db, spanner.Delete(spannerdb.AuditTable, spanner.Key{int64(3)}))
			prev := es[1].Hash
			for _, e := range es[3:] {
				e.Seal(prev)
				prev = e.Hash
				rewrite(t, db, e)
			}
			apply(t, db, spannerdb.AuditHeadMutation(6, prev))
		}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openAudited(t)
			for i := range 3 {
				if _, _, err := db.ExecDML(t.Context(), "INSERT INTO Orders (Id) VALUES (@id)", map[string]any{"id": int64(i)}, actor("ci")); err != nil {
					t.Fatal(err)
				}
				if _, err := db.AppendAudit(t.Context(), actor("reader")); err != nil {
					t.Fatal(err)
				}
			}
			tc.tamper(t, db, entries(t, db))
			r := verify(t, db)
			if tc.bad == 0 {
				if !r.OK || r.Entries != 6 {
					t.Fatalf("verify = %+v; want ok", r)
				}
				return
			}
			if r.OK || r.FirstBad == nil || *r.FirstBad != tc.bad {
				t.Fatalf("verify = %s; want first bad %d", r, tc.bad)
			}
		})
	}
}

func TestWhoChangedThisRow(t *testing.T) {
	db, _ := openAudited(t)
	ctx := t.Context()
	exec := func(who, sql string) int64 {
		t.Helper()
		_, e, err := db.ExecDML(ctx, sql, nil, actor(who))
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return e.Seq
	}
	s1 := exec("alice", "INSERT INTO Orders (Id, Note) VALUES (1, 'a'), (2, 'b'), (10, 'c')")
	exec("bob", "INSERT INTO Lines (OrderId, Sku) VALUES (1, '1'), (1, 'x')")
	if _, err := db.AppendAudit(ctx, actor("carol")); err != nil {
		t.Fatal(err)
	}
	s4 := exec("bob", "UPDATE Orders SET Note = 'z' WHERE Id IN (1, 10)")
	exec("alice", "UPDATE Orders SET Note = 'y' WHERE Id = 2")
	s6 := exec("carol", "DELETE FROM Orders WHERE Id = 1")
	s7 := exec("carol", "UPDATE Lines SET Qty = 5 WHERE OrderId = 1 AND Sku = 'x'")

	tests := []struct {
		name string
		f    audit.Filter
		want []int64
	}{
		{"int key", audit.Filter{Table: "Orders", Key: "1"}, []int64{s6, s4, s1}},
		{"json key, other case", audit.Filter{Table: "orders", Key: "[1]"}, []int64{s6, s4, s1}},
		{"no prefix match", audit.Filter{Table: "Orders", Key: "10"}, []int64{s4, s1}},
		{"composite key", audit.Filter{Table: "Lines", Key: `[1,"x"]`}, []int64{s7, 2}},
		{"string key looks like a number", audit.Filter{Table: "Lines", Key: `[1,"1"]`}, []int64{2}},
		{"with principal", audit.Filter{Table: "Orders", Key: "1", Principal: "bob"}, []int64{s4}},
		{"limit", audit.Filter{Table: "Orders", Key: "1", Limit: 2}, []int64{s6, s4}},
		{"unknown key", audit.Filter{Table: "Orders", Key: "3"}, nil},
		{"table only", audit.Filter{Table: "lines"}, []int64{s7, 2}},
		{"principal", audit.Filter{Principal: "carol"}, []int64{s7, s6, 3}},
		{"action and limit", audit.Filter{Action: "write", Limit: 3}, []int64{s7, s6, 5}},
		{"since the future", audit.Filter{Since: time.Now().Add(time.Hour)}, nil},
		{"everything", audit.Filter{}, []int64{7, 6, 5, 4, 3, 2, 1}},
		{"next page", audit.Filter{Before: 5, Limit: 2}, []int64{4, 3}},
		{"next page of a row", audit.Filter{Table: "Orders", Key: "1", Before: s6}, []int64{s4, s1}},
		{"next page filtered", audit.Filter{Principal: "carol", Before: s6}, []int64{3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.ListAudit(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []int64
			for _, e := range got {
				seqs = append(seqs, e.Seq)
			}
			if !slices.Equal(seqs, tc.want) {
				t.Fatalf("ListAudit(%+v) = %v, want %v", tc.f, seqs, tc.want)
			}
		})
	}
	if _, err := db.ListAudit(ctx, audit.Filter{Key: "1"}); spangate.KindOf(err) != spangate.Invalid {
		t.Errorf("key without table: %v", err)
	}
}

func TestExecDMLRefusesAndRecordsFailures(t *testing.T) {
	db, _ := openAudited(t)
	ctx := t.Context()
	for _, sql := range []string{"SELECT 1", "INSERT INTO Orders (Id) VALUES (1) THEN RETURN Id", "CREATE TABLE X (Id INT64) PRIMARY KEY (Id)", "INSERT INTO Orders (Id) VALUES (1); DELETE FROM Orders WHERE true"} {
		if _, _, err := db.ExecDML(ctx, sql, nil, actor("ci")); spangate.KindOf(err) != spangate.Invalid {
			t.Errorf("%s: err %v, want Invalid", sql, err)
		}
	}
	if _, _, err := db.ExecDML(ctx, "INSERT INTO Orders (Id, Note) VALUES (7, 'x')", nil, actor("ci")); err != nil {
		t.Fatal(err)
	}
	_, failed, err := db.ExecDML(ctx, "INSERT INTO Orders (Id, Note) VALUES (@id, @note)", map[string]any{"id": int64(7), "note": "hunter2"}, actor("ci"))
	if err == nil || spangate.KindOf(err) != spangate.Conflict {
		t.Fatalf("duplicate insert: %v, want Conflict", err)
	}
	if failed.Seq != 2 || failed.Result != audit.ResultFailed || failed.Reason == "" || failed.Rows != 0 {
		t.Errorf("failed entry = %+v", failed)
	}
	for _, e := range entries(t, db) {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("a parameter value is stored: %s", b)
		}
	}
	if r := verify(t, db); !r.OK || r.Entries != 2 {
		t.Errorf("verify = %+v", r)
	}
}

func TestExecDMLCapsKeys(t *testing.T) {
	db, _ := openAudited(t)
	n := int64(audit.MaxKeys + 5)
	rows, e, err := db.ExecDML(t.Context(), "INSERT INTO Orders (Id) SELECT x FROM UNNEST(GENERATE_ARRAY(1, @n)) AS x", map[string]any{"n": n}, actor("ci"))
	if err != nil {
		t.Fatal(err)
	}
	if rows != n || e.Rows != n || len(e.Keys) != audit.MaxKeys || !e.KeysIncomplete {
		t.Fatalf("rows %d, entry rows %d, %d keys, incomplete %v", rows, e.Rows, len(e.Keys), e.KeysIncomplete)
	}
	if r := verify(t, db); !r.OK {
		t.Fatalf("verify = %+v", r)
	}
}

// countRows runs a COUNT query with the Spanner client itself: spangate's
// own tables are not open to DB.Query.
func countRows(t testing.TB, db *spannerdb.DB, sql string) int64 {
	t.Helper()
	var n int64
	row, err := db.Client().Single().Query(context.Background(), spanner.NewStatement(sql)).Next()
	if err != nil {
		t.Fatal(err)
	}
	if err := row.Columns(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAuditFailureRollsBackTheChange breaks the audit write in several ways
// and checks that the DML it records is not visible afterwards and that the
// caller gets Unavailable (the gateway's 503).
func TestAuditFailureRollsBackTheChange(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(t *testing.T, db *spannerdb.DB) audit.Entry
		// fresh runs the change through another client, which has not
		// appended yet and so reads the head.
		fresh bool
	}{
		{"head row deleted", func(t *testing.T, db *spannerdb.DB) audit.Entry {
			apply(t, db, spanner.Delete(spannerdb.AuditHeadTable, spanner.Key{int64(0)}))
			return actor("ci")
		}, false},
		{"head row deleted, fresh client", func(t *testing.T, db *spannerdb.DB) audit.Entry {
			apply(t, db, spanner.Delete(spannerdb.AuditHeadTable, spanner.Key{int64(0)}))
			return actor("ci")
		}, true},
		{"head points at an existing entry", func(t *testing.T, db *spannerdb.DB) audit.Entry {
			apply(t, db, spannerdb.AuditHeadMutation(0, ""))
			return actor("ci")
		}, true},
		{"entry too large", func(t *testing.T, db *spannerdb.DB) audit.Entry {
			e := actor("ci")
			e.Statement = strings.Repeat("x", 5<<20)
			return e
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, path := openAudited(t)
			if _, _, err := db.ExecDML(t.Context(), "INSERT INTO Orders (Id) VALUES (1)", nil, actor("ci")); err != nil {
				t.Fatal(err)
			}
			other := openPath(t, path)
			e := tc.breakIt(t, db)
			if tc.fresh {
				db = other
			}
			_, _, err := db.ExecDML(t.Context(), "INSERT INTO Orders (Id) VALUES (2)", nil, e)
			if spangate.KindOf(err) != spangate.Unavailable {
				t.Fatalf("err = %v (kind %v), want Unavailable", err, spangate.KindOf(err))
			}
			if n := countRows(t, db, "SELECT COUNT(*) AS n FROM Orders WHERE Id = 2"); n != 0 {
				t.Fatal("the change committed without its audit entry")
			}
			if n := countRows(t, db, "SELECT COUNT(*) AS n FROM SpangateAudit"); n != 1 {
				t.Fatalf("%d audit rows, want 1", n)
			}
			if _, err := db.AppendAudit(t.Context(), e); spangate.KindOf(err) != spangate.Unavailable {
				t.Fatalf("AppendAudit: %v, want Unavailable", err)
			}
		})
	}
}

func TestQuery(t *testing.T) {
	db, _ := openAudited(t)
	ctx := t.Context()
	if _, _, err := db.ExecDML(ctx, "INSERT INTO Orders (Id, Note) VALUES (1, 'a'), (2, NULL), (3, 'c')", nil, actor("ci")); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(ctx, `SELECT Id, Note, 1.5 AS f, TRUE AS b, [1, 2] AS arr, TIMESTAMP '2025-01-02T03:04:05Z' AS ts,
  DATE '2025-01-02' AS d, b'hi' AS bs, JSON '{"a":1}' AS j, NUMERIC '1.25' AS num, ARRAY(SELECT AS STRUCT 1 AS x, 'y' AS y) AS st,
  CAST('NaN' AS FLOAT64) AS nan
FROM Orders WHERE Id >= @min ORDER BY Id`, map[string]any{"min": int64(2)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"Id":2,"Note":null,"arr":[1,2],"b":true,"bs":"aGk=","d":"2025-01-02","f":1.5,"j":{"a":1},"nan":"NaN","num":"1.25","st":[{"x":1,"y":"y"}],"ts":"2025-01-02T03:04:05Z"},` +
		`{"Id":3,"Note":"c","arr":[1,2],"b":true,"bs":"aGk=","d":"2025-01-02","f":1.5,"j":{"a":1},"nan":"NaN","num":"1.25","st":[{"x":1,"y":"y"}],"ts":"2025-01-02T03:04:05Z"}]`
	if string(b) != want {
		t.Errorf("rows =\n%s\nwant\n%s", b, want)
	}
	if rows, err := db.Query(ctx, "SELECT Id FROM Orders ORDER BY Id", nil, 2); err != nil || len(rows) != 2 {
		t.Errorf("limit: %v %v", rows, err)
	}
	for _, sql := range []string{"DELETE FROM Orders WHERE true", "SELECT 1; SELECT 2"} {
		if _, err := db.Query(ctx, sql, nil, 0); spangate.KindOf(err) != spangate.Invalid {
			t.Errorf("%s: %v, want Invalid", sql, err)
		}
	}
}

// TestExecDMLAfterTheKeyChanged drops a table and creates it again with
// another primary key between two statements: the cached key columns are
// stale, and the second statement must still record the right keys.
func TestExecDMLAfterTheKeyChanged(t *testing.T) {
	db, _ := openAudited(t)
	ctx := t.Context()
	if _, _, err := db.ExecDML(ctx, "DELETE FROM Tags WHERE Name = 'x'", nil, actor("ci")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateSchema(ctx, "spangate_recreate_tags", []string{
		"DROP TABLE Tags",
		"CREATE TABLE Tags (Color STRING(16) NOT NULL, Num INT64 NOT NULL) PRIMARY KEY (Num, Color)",
	}); err != nil {
		t.Fatal(err)
	}
	_, e, err := db.ExecDML(ctx, "INSERT INTO Tags (Color, Num) VALUES ('red', 5)", nil, actor("ci"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.Keys, []string{`[5,"red"]`}) || e.Seq != 2 {
		t.Fatalf("entry %d keys %v", e.Seq, e.Keys)
	}
}
