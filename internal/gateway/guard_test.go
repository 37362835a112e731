package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/migration"
)

// Attacks of issue 11 (points 1 to 3) through the gateway's front doors,
// each with variations. Every one of them changed data or read the audit
// trail before the fixes.

// verifyOK asks the gateway to verify the trail as admin and returns the
// result.
func verifyOK(t *testing.T, admin *client) audit.VerifyResult {
	t.Helper()
	r := admin.get("/v1/databases/" + testDB + "/audit:verify")
	wantStatus(t, "verify", r, http.StatusOK)
	var v audit.VerifyResult
	r.decode(t, &v)
	return v
}

// TestSpangateTablesAreClosedToCallers: no statement that names one of
// spangate's tables, anywhere in it, runs through exec, whoever sends it.
func TestSpangateTablesAreClosedToCallers(t *testing.T) {
	st := newStack(t)
	h := st.server(t, st.config(t, nil), nil).Handler()
	admin := login(t, h, st.iss.mint(t, repoAdmin, nil))
	if r, _ := applyLines(t, admin, migrations(createOrders, ordersDDL)); r.status != 200 {
		t.Fatalf("setup apply: %d %s", r.status, r.body)
	}
	writer := login(t, h, st.iss.mint(t, repoWriter, nil))
	wantStatus(t, "writer's own write", exec(writer, "UPDATE Orders SET Note = 'w' WHERE Id = 1", nil), http.StatusOK)
	before := verifyOK(t, admin)
	if !before.OK {
		t.Fatalf("trail before: %+v", before)
	}

	insertEntry := `INSERT INTO SpangateAudit (Seq, CreatedAt, Principal, Action, Result, RowCount, KeysIncomplete, PrevHash, EntryHash, CommittedAt)
VALUES ((SELECT LastSeq + 2 FROM SpangateAuditHead WHERE Id = 0), CURRENT_TIMESTAMP(), 'x', 'write', 'ok', 0, false, '', '', PENDING_COMMIT_TIMESTAMP())`
	tests := []struct {
		name string
		c    *client
		sql  string
	}{
		// The attacks as reported.
		{"writer deletes its audit entries", writer, "DELETE FROM SpangateAudit WHERE Principal LIKE '%writer%'"},
		{"writer deletes the keys rows", writer, "DELETE FROM SpangateAuditKeys WHERE TableName = 'orders'"},
		{"writer rewrites the head", writer, "UPDATE SpangateAuditHead SET LastSeq = 1, LastHash = 'x' WHERE Id = 0"},
		{"writer blocks appends with LastSeq+2", writer, insertEntry},
		{"writer forges a history row", writer, "INSERT INTO SpangateMigrations (Version, Name, Checksum, State, StatementsApplied, StatementsTotal) VALUES (9, 'x', 'x', 'applied', 1, 1)"},
		{"writer takes the lock", writer, "UPDATE SpangateLocks SET Holder = 'me' WHERE Id = 0"},
		{"writer reads the audit trail", writer, "SELECT Principal, Attributes, Params FROM SpangateAudit"},
		// Variations: spelling.
		{"lower case", writer, "select * from spangateaudit"},
		{"upper case", writer, "SELECT * FROM SPANGATEAUDIT"},
		{"quoted", writer, "SELECT * FROM `SpangateAudit`"},
		{"escaped in quotes", writer, "SELECT * FROM `Spangate\\x41udit`"},
		{"alias", writer, "SELECT a.Statement FROM SpangateAudit AS a WHERE a.Seq > 0"},
		{"a table spangate adds later", writer, "SELECT * FROM SpangateWhatever"},
		// Variations: where it hides.
		{"nested subqueries", writer, "SELECT Id FROM Orders WHERE Id IN (SELECT Seq FROM (SELECT Seq FROM SpangateAudit))"},
		{"union", writer, "SELECT Note FROM Orders UNION ALL SELECT Statement FROM SpangateAudit"},
		{"cte", writer, "WITH t AS (SELECT * FROM SpangateAudit) SELECT COUNT(*) FROM t"},
		{"join", writer, "SELECT o.Id FROM Orders o JOIN SpangateAuditKeys k ON k.Seq = o.Id"},
		{"then return", writer, "UPDATE Orders SET Note = 'x' WHERE Id = 1 THEN RETURN (SELECT MAX(Seq) FROM SpangateAudit) AS s"},
		{"insert select", writer, "INSERT INTO Orders (Id, Note) SELECT Seq + 100, Statement FROM SpangateAudit"},
		{"where subquery", writer, "DELETE FROM Orders WHERE Id = 1 AND EXISTS (SELECT 1 FROM SpangateLocks)"},
		{"set subquery", writer, "UPDATE Orders SET Note = (SELECT LastHash FROM SpangateAuditHead WHERE Id = 0) WHERE Id = 1"},
		{"exists in a query", writer, "SELECT EXISTS (SELECT 1 FROM SpangateMigrations) AS x"},
		// DDL, even for a principal allowed everything else.
		{"view over the trail", admin, "CREATE VIEW Trail SQL SECURITY INVOKER AS SELECT Statement FROM SpangateAudit"},
		{"row deletion policy on the trail", admin, "ALTER TABLE SpangateAudit ADD ROW DELETION POLICY (OLDER_THAN(CreatedAt, INTERVAL 0 DAY))"},
		{"index on the trail", admin, "CREATE INDEX TrailByPrincipal ON SpangateAudit (Principal)"},
		{"drop the head", admin, "DROP TABLE SpangateAuditHead"},
		{"alter a column of the history", admin, "ALTER TABLE SpangateMigrations ADD COLUMN X STRING(MAX)"},
		{"change stream on the trail", admin, "CREATE CHANGE STREAM Trail FOR SpangateAudit"},
		{"change stream for all", admin, "CREATE CHANGE STREAM Everything FOR ALL"},
		{"foreign key to the trail", admin, "ALTER TABLE Orders ADD CONSTRAINT FkTrail FOREIGN KEY (Qty) REFERENCES SpangateAudit (Seq)"},
		{"admin deletes the trail", admin, "DELETE FROM SpangateAudit WHERE Seq = 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exec(tt.c, tt.sql, nil)
			wantStatus(t, tt.name, r, http.StatusForbidden)
			if e := r.errBody(t); e.Code != "denied" || !strings.Contains(e.Message, "belongs to spangate") {
				t.Errorf("error = %+v; want denied, naming spangate's table", e)
			}
		})
	}

	// Nothing changed: the trail holds every entry it held, plus one
	// denied entry per attempt, and still verifies; audited writes work.
	after := verifyOK(t, admin)
	if !after.OK || after.Entries != before.Entries+int64(len(tests)) {
		t.Fatalf("trail after the attacks: %+v; want ok with %d entries", after, before.Entries+int64(len(tests)))
	}
	for i := range 2 {
		wantStatus(t, "audited write after the attacks", exec(writer, "UPDATE Orders SET Note = 'again' WHERE Id = @id", map[string]any{"id": 1 + i}), http.StatusOK)
	}
	row, err := st.direct.Client().Single().ReadRow(t.Context(), "SpangateMigrations", spanner.Key{int64(9)}, []string{"Version"})
	if err == nil || row != nil {
		t.Fatal("a forged history row exists")
	}
}

// TestMigrationsCannotTouchSpangateTables: a migration that names
// spangate's tables is refused before anything of it runs, whatever rights
// its principal has (it was the first half of the apply race).
func TestMigrationsCannotTouchSpangateTables(t *testing.T) {
	st := newStack(t)
	h := st.server(t, st.config(t, nil), nil).Handler()
	admin := login(t, h, st.iss.mint(t, repoAdmin, nil))
	migrator := login(t, h, st.iss.mint(t, repoMigrate, nil))
	for _, tc := range []struct {
		name, file string
		c          *client
	}{
		{"fake history row", "INSERT INTO SpangateMigrations (Version, Name, Checksum, State, StatementsApplied, StatementsTotal) VALUES (2, 'drop_secrets', 'x', 'applying', 1, 1);", migrator},
		{"decoy lock", "UPDATE SpangateLocks SET Holder = 'decoy' WHERE true;", admin},
		{"wipe the trail", "-- spangate:partitioned\nDELETE FROM SpangateAudit WHERE Seq > 0;", admin},
		{"ddl on the trail", "ALTER TABLE SpangateAudit ADD ROW DELETION POLICY (OLDER_THAN(CreatedAt, INTERVAL 0 DAY));", admin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := migrations(createOrders, ordersDDL, "0002_attack.sql", tc.file)
			r := tc.c.post("/v1/databases/"+testDB+"/migrations:apply", body)
			wantStatus(t, "apply", r, http.StatusForbidden)
			if e := r.errBody(t); !strings.Contains(e.Message, "belongs to spangate") {
				t.Errorf("error = %+v", e)
			}
			r = tc.c.post("/v1/databases/"+testDB+"/migrations:plan", body)
			if !strings.Contains(string(r.body), migration.RuleProtected) {
				t.Errorf("plan does not show the %s finding: %s", migration.RuleProtected, r.body)
			}
		})
	}
	if n := countHistory(t, st); n != 0 {
		t.Fatalf("%d history rows; nothing was to be applied", n)
	}
}

func countHistory(t *testing.T, st *stack) int64 {
	t.Helper()
	row, err := st.direct.Client().Single().Query(t.Context(), spanner.NewStatement("SELECT COUNT(*) FROM SpangateMigrations")).Next()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := row.Columns(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestApplyDecidesOnThePlanThatRuns reproduces the race of point 2: the
// history says the destructive file is (nearly) applied when the gateway
// plans without the lock, and the run under the lock finds it still to
// do. The plan that runs is decided under the lock: a migrate-only
// principal cannot drop the table. The forged history row is written here
// with spangate's own store, as the attacker did before spangate's tables
// were closed to callers.
func TestApplyDecidesOnThePlanThatRuns(t *testing.T) {
	st := newStack(t, "CREATE TABLE Secrets (Id INT64 NOT NULL) PRIMARY KEY (Id)")
	h := st.server(t, st.config(t, nil), nil).Handler()
	migrator := login(t, h, st.iss.mint(t, repoMigrate, nil))
	ctx := t.Context()

	const name, content = "0001_drop_secrets.sql", "-- spangate:allow drop-table\nDROP TABLE Secrets;"
	set := migration.Parse([]migration.Source{{Name: name, Content: []byte(content)}})
	if len(set.Files) != 1 {
		t.Fatalf("set: %+v", set.Findings)
	}
	f := set.Files[0]
	sum := sha256.Sum256([]byte(content))
	if err := st.direct.Init(ctx); err != nil {
		t.Fatal(err)
	}
	lease, err := st.direct.Acquire(ctx, "forger", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// One statement "applied" by a schema operation that never existed:
	// the plan without the lock has nothing left to run; recovery under
	// the lock finds the operation never arrived and resets the row.
	forged := migration.Record{Version: 1, Name: f.Name, Checksum: hex.EncodeToString(sum[:]), State: migration.StateApplying,
		StatementsApplied: 1, StatementsTotal: 1, PrefixChecksum: migration.PrefixChecksum(f, 1),
		OperationName: "spangate_forged_op", OpStart: 0, OpCount: 1, StartedAt: time.Now()}
	if err := st.direct.Save(ctx, lease, forged); err != nil {
		t.Fatal(err)
	}
	if err := st.direct.Release(context.WithoutCancel(ctx), lease); err != nil {
		t.Fatal(err)
	}

	r, lines := applyLines(t, migrator, migrations(name, content))
	last := map[string]any{}
	if len(lines) > 0 {
		last = lines[len(lines)-1]
	}
	if r.status == http.StatusOK && last["type"] != "error" {
		t.Errorf("apply succeeded: %s", r.body)
	}
	if r.status == http.StatusOK {
		e, _ := last["error"].(map[string]any)
		if e["code"] != "denied" || !strings.Contains(e["message"].(string), "destructive") {
			t.Errorf("apply's last line = %v; want a denial that names destructive", last)
		}
	}
	row, err := st.direct.Client().Single().Query(ctx, spanner.NewStatement(
		"SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = '' AND TABLE_NAME = 'Secrets'")).Next()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := row.Columns(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatal("a migrate-only principal dropped table Secrets")
	}
}
