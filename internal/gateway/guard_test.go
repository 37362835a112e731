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

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/config"
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
			} else if strings.Contains(e.Hint, "a rule that allows this") || !strings.Contains(e.Hint, "spangate audit list") {
				t.Errorf("hint = %q; no rule can allow this, so the hint must not send the caller for one", e.Hint)
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

// TestUnboundedChangesNeedDestructive sends the payloads of point 3 and
// variations: DML that is not provably bounded by the primary key, and DDL
// that is not on the allow-list of additive changes, need destructive.
func TestUnboundedChangesNeedDestructive(t *testing.T) {
	const repoDDL = "acme/ddl"
	st := newStack(t)
	cfg := st.config(t, func(c *config.Config) {
		c.Rules = append(c.Rules, config.Rule{Name: "ddl-only", When: `claims.repository == "` + repoDDL + `"`,
			Databases: []string{testDB}, Allow: []spangate.Action{spangate.ActionRead, spangate.ActionDDL}})
	})
	h := st.server(t, cfg, nil).Handler()
	admin := login(t, h, st.iss.mint(t, repoAdmin, nil))
	if r, _ := applyLines(t, admin, migrations(createOrders, ordersDDL+"\nINSERT INTO Orders (Id, Note, Qty) VALUES (2, 'b', 0), (3, 'c', 0);")); r.status != 200 {
		t.Fatalf("setup apply: %d %s", r.status, r.body)
	}
	writer := login(t, h, st.iss.mint(t, repoWriter, nil))
	ddl := login(t, h, st.iss.mint(t, repoDDL, nil))
	migrator := login(t, h, st.iss.mint(t, repoMigrate, nil))

	denied := []struct {
		name   string
		c      *client
		sql    string
		params map[string]any
	}{
		{"1<2", writer, "DELETE FROM Orders WHERE 1<2", nil},
		{"NOT (1=2)", writer, "DELETE FROM Orders WHERE NOT (1=2)", nil},
		{"EXISTS", writer, "DELETE FROM Orders WHERE EXISTS(SELECT 1)", nil},
		{"IS NOT NULL", writer, "DELETE FROM Orders WHERE Id IS NOT NULL", nil},
		{"> -2^63", writer, "DELETE FROM Orders WHERE Id > -2^63", nil},
		{"bare parameter", writer, "DELETE FROM Orders WHERE @t", map[string]any{"t": true}},
		{"column equals itself", writer, "UPDATE Orders SET Note = 'x' WHERE Id = Id", nil},
		{"insert or update select", writer, "INSERT OR UPDATE INTO Orders (Id, Note) SELECT Id, 'x' FROM Orders", nil},
		{"insert select", writer, "INSERT INTO Orders (Id) SELECT Id + 1000 FROM Orders", nil},
		{"full int64 range", writer, "DELETE FROM Orders WHERE Id >= -9223372036854775808 AND Id <= 9223372036854775807", nil},
		{"wide range in parameters", writer, "DELETE FROM Orders WHERE Id BETWEEN @lo AND @hi", map[string]any{"lo": 0, "hi": 1_000_000_000}},
		{"or true", writer, "DELETE FROM Orders WHERE Id = 1 OR TRUE", nil},
		{"or of keys", writer, "DELETE FROM Orders WHERE (Id = 1 OR Id > 0)", nil},
		{"non-key column", writer, "UPDATE Orders SET Qty = 1 WHERE Note = 'seed'", nil},
		{"key from a subquery", writer, "DELETE FROM Orders WHERE Id IN (SELECT Id FROM Orders)", nil},
		{"not in", writer, "DELETE FROM Orders WHERE Id NOT IN (5)", nil},
		{"not equal", writer, "DELETE FROM Orders WHERE Id != 5", nil},
		{"one-sided range", writer, "DELETE FROM Orders WHERE (Id > 0)", nil},
		{"function of the key", writer, "DELETE FROM Orders WHERE Id = Id + 0", nil},
		{"IF", writer, "DELETE FROM Orders WHERE IF(TRUE, TRUE, FALSE)", nil},
		{"key qualified by another name", writer, "DELETE FROM Orders AS o WHERE Orders2.Id = 1", nil},
		{"drop view", ddl, "DROP VIEW V", nil},
		{"drop sequence", ddl, "DROP SEQUENCE S", nil},
		{"drop change stream", ddl, "DROP CHANGE STREAM C", nil},
		{"drop schema", ddl, "DROP SCHEMA sch", nil},
		{"version retention", ddl, "ALTER DATABASE app SET OPTIONS (version_retention_period = '1h')", nil},
		{"row deletion policy", ddl, "ALTER TABLE Orders ADD ROW DELETION POLICY (OLDER_THAN(Ts, INTERVAL 0 DAY))", nil},
		{"create table with a row deletion policy", ddl, "CREATE TABLE E (Id INT64, Ts TIMESTAMP) PRIMARY KEY (Id), ROW DELETION POLICY (OLDER_THAN(Ts, INTERVAL 0 DAY))", nil},
		{"column type change", ddl, "ALTER TABLE Orders ALTER COLUMN Note STRING(10)", nil},
		{"replace a view", ddl, "CREATE OR REPLACE VIEW V SQL SECURITY INVOKER AS SELECT 1 AS x", nil},
		{"cascade", ddl, "ALTER TABLE Orders ADD CONSTRAINT Fk FOREIGN KEY (Qty) REFERENCES Orders (Id) ON DELETE CASCADE", nil},
		{"rename", ddl, "ALTER TABLE Orders RENAME TO Orders2", nil},
		{"grant", ddl, "GRANT SELECT ON TABLE Orders TO ROLE r", nil},
	}
	for _, tt := range denied {
		t.Run(tt.name, func(t *testing.T) {
			r := exec(tt.c, tt.sql, tt.params)
			wantStatus(t, tt.name, r, http.StatusForbidden)
			if e := r.errBody(t); e.Code != "denied" || !strings.Contains(e.Message, "destructive") {
				t.Errorf("error = %+v; want a denial naming destructive", e)
			}
		})
	}
	if n := countRows(t, admin, "SELECT COUNT(*) AS n FROM Orders WHERE Note IN ('seed', 'b', 'c')"); n != 3 {
		t.Fatalf("%d rows left untouched, want 3", n)
	}

	allowed := []struct {
		name   string
		c      *client
		sql    string
		params map[string]any
	}{
		{"key equality", writer, "UPDATE Orders SET Qty = 1 WHERE Id = 1", nil},
		{"key parameter and more", writer, "UPDATE Orders SET Qty = 2 WHERE Id = @id AND Note = 'b'", map[string]any{"id": 2}},
		{"key list", writer, "UPDATE Orders SET Qty = 3 WHERE Id IN (1, 2)", nil},
		{"key array", writer, "UPDATE Orders SET Qty = 4 WHERE Id IN UNNEST(@ids)", map[string]any{"ids": []any{1, 3}}},
		{"narrow key range", writer, "UPDATE Orders SET Qty = 5 WHERE Id BETWEEN 1 AND 3", nil},
		{"narrow range in parameters", writer, "UPDATE Orders AS o SET Qty = 6 WHERE o.Id >= @lo AND o.Id < @hi", map[string]any{"lo": 1, "hi": 3}},
		{"insert values", writer, "INSERT OR UPDATE INTO Orders (Id, Note) VALUES (4, 'd')", nil},
		{"create table", ddl, "CREATE TABLE Extra (Id INT64 NOT NULL) PRIMARY KEY (Id)", nil},
		{"add column", ddl, "ALTER TABLE Orders ADD COLUMN Ts TIMESTAMP", nil},
		{"create index", ddl, "CREATE INDEX OrdersByQty ON Orders (Qty)", nil},
	}
	for _, tt := range allowed {
		wantStatus(t, tt.name, exec(tt.c, tt.sql, tt.params), http.StatusOK)
	}

	// Through a migration: Partitioned DML runs over the whole table and
	// needs destructive; a bounded DML migration needs migrate only.
	partitioned := migrations(createOrders, ordersDDL+"\nINSERT INTO Orders (Id, Note, Qty) VALUES (2, 'b', 0), (3, 'c', 0);",
		"0002_wipe.sql", "-- spangate:partitioned\nDELETE FROM Orders WHERE Id IS NOT NULL;")
	r := migrator.post("/v1/databases/"+testDB+"/migrations:apply", partitioned)
	wantStatus(t, "partitioned delete by a migrate-only principal", r, http.StatusForbidden)
	if e := r.errBody(t); !strings.Contains(e.Message, "Partitioned DML") {
		t.Errorf("error = %+v", e)
	}
	bounded := migrations(createOrders, ordersDDL+"\nINSERT INTO Orders (Id, Note, Qty) VALUES (2, 'b', 0), (3, 'c', 0);",
		"0002_fix.sql", "UPDATE Orders SET Note = 'fixed' WHERE Id = 2;")
	if r, lines := applyLines(t, migrator, bounded); r.status != 200 || lines[len(lines)-1]["type"] != "result" {
		t.Fatalf("bounded migration: %d %s", r.status, r.body)
	}
	if n := countRows(t, admin, "SELECT COUNT(*) AS n FROM Orders"); n != 4 {
		t.Fatalf("%d rows, want 4", n)
	}
}

// countRows runs a COUNT(*) AS n query through exec.
func countRows(t *testing.T, c *client, sql string) int64 {
	t.Helper()
	r := exec(c, sql, nil)
	wantStatus(t, sql, r, http.StatusOK)
	var res struct {
		Rows []map[string]int64 `json:"rows"`
	}
	r.decode(t, &res)
	return res.Rows[0]["n"]
}
