package spannerdb_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/spannerdb"
)

const (
	createA = "CREATE TABLE A (Id INT64 NOT NULL, Name STRING(MAX)) PRIMARY KEY (Id)"
	createB = "CREATE TABLE B (Id INT64 NOT NULL) PRIMARY KEY (Id)"
	createC = "CREATE TABLE C (Id INT64 NOT NULL) PRIMARY KEY (Id)"

	wrenchTable    = "CREATE TABLE SchemaMigrations (Version INT64 NOT NULL, Dirty BOOL NOT NULL) PRIMARY KEY (Version)"
	golangTable    = "CREATE TABLE schema_migrations (Version INT64 NOT NULL, Dirty BOOL NOT NULL) PRIMARY KEY (Version)"
	liquibaseTable = `CREATE TABLE DATABASECHANGELOG (ID STRING(255) NOT NULL, AUTHOR STRING(255) NOT NULL, FILENAME STRING(255) NOT NULL,
  DATEEXECUTED TIMESTAMP NOT NULL, ORDEREXECUTED INT64 NOT NULL, EXECTYPE STRING(10) NOT NULL, MD5SUM STRING(35),
  DESCRIPTION STRING(255), COMMENTS STRING(255), TAG STRING(255), LIQUIBASE STRING(20), CONTEXTS STRING(255),
  LABELS STRING(255), DEPLOYMENT_ID STRING(10)) PRIMARY KEY (ID, AUTHOR, FILENAME)`
	liquibaseLock = "CREATE TABLE DATABASECHANGELOGLOCK (ID INT64 NOT NULL, LOCKED BOOL NOT NULL, LOCKGRANTED TIMESTAMP, LOCKEDBY STRING(255)) PRIMARY KEY (ID)"
	liquibaseRows = `INSERT INTO DATABASECHANGELOG (ID, AUTHOR, FILENAME, DATEEXECUTED, ORDEREXECUTED, EXECTYPE, MD5SUM) VALUES
  ('1', 'alice', 'db.sql', CURRENT_TIMESTAMP(), 1, 'EXECUTED', '9:aaa'), ('2', 'alice', 'db.sql', CURRENT_TIMESTAMP(), 2, 'EXECUTED', '9:bbb')`
)

// TestBaseline adopts databases that wrench, golang-migrate and Liquibase
// brought to their second migration (issue 13.2): the version comes from
// each tool's table (or --version), the live schema must be what the files
// up to it build, and the baseline is recorded in the history and, once,
// in the audit trail. Afterwards plan shows the rest pending and no drift
// (the other tool's table is not drift), and apply runs only the rest.
func TestBaseline(t *testing.T) {
	liquibase := "-- liquibase formatted sql\n-- changeset alice:%s\nSTART BATCH DDL;\n%s;\nRUN BATCH;\n"
	tests := []struct {
		name    string
		ddl     []string
		dml     []string
		files   map[string]string
		version int64
		wantErr string
		kind    spangate.Kind
	}{
		{name: "wrench", ddl: []string{createA, createB, wrenchTable}, dml: []string{"INSERT INTO SchemaMigrations (Version, Dirty) VALUES (2, false)"},
			files: map[string]string{"000001.sql": createA + ";", "000002.sql": createB + ";", "000003.sql": createC + ";"}},
		{name: "golang-migrate", ddl: []string{createA, createB, golangTable}, dml: []string{"INSERT INTO schema_migrations (Version, Dirty) VALUES (2, false)"},
			files: map[string]string{"1_a.up.sql": createA + ";", "1_a.down.sql": "DROP TABLE A;", "2_b.up.sql": createB + ";", "3_c.up.sql": createC + ";"}},
		{name: "liquibase", ddl: []string{createA, createB, liquibaseTable, liquibaseLock},
			dml: []string{liquibaseRows, "INSERT INTO DATABASECHANGELOGLOCK (ID, LOCKED) VALUES (1, false)"},
			files: map[string]string{"0001_a.sql": strings.Replace(strings.Replace(liquibase, "%s", "1", 1), "%s", createA, 1),
				"0002_b.sql": strings.Replace(strings.Replace(liquibase, "%s", "2", 1), "%s", createB, 1), "0003_c.sql": createC + ";"}},
		{name: "--version", ddl: []string{createA, createB}, version: 2,
			files: map[string]string{"0001_a.sql": createA + ";", "0002_b.sql": createB + ";", "0003_c.sql": createC + ";"}},
		{name: "dirty wrench", ddl: []string{createA, createB, wrenchTable}, dml: []string{"INSERT INTO SchemaMigrations (Version, Dirty) VALUES (2, true)"},
			files:   map[string]string{"000001.sql": createA + ";", "000002.sql": createB + ";"},
			wantErr: "is dirty: its last migration (version 2) did not finish", kind: spangate.Blocked},
		{name: "liquibase locked", ddl: []string{createA, createB, liquibaseTable, liquibaseLock},
			dml:     []string{liquibaseRows, "INSERT INTO DATABASECHANGELOGLOCK (ID, LOCKED) VALUES (1, true)"},
			files:   map[string]string{"0001_a.sql": createA + ";", "0002_b.sql": createB + ";"},
			wantErr: "is dirty", kind: spangate.Blocked},
		{name: "schema differs", ddl: []string{createA, "CREATE TABLE B (Id INT64 NOT NULL, Extra STRING(10)) PRIMARY KEY (Id)", wrenchTable},
			dml:     []string{"INSERT INTO SchemaMigrations (Version, Dirty) VALUES (2, false)"},
			files:   map[string]string{"000001.sql": createA + ";", "000002.sql": createB + ";"},
			wantErr: "the live schema differs from what the migrations up to version 2 build", kind: spangate.Blocked},
		{name: "no table, no version", ddl: []string{createA},
			files:   map[string]string{"0001_a.sql": createA + ";"},
			wantErr: "no history table of another tool found", kind: spangate.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := emulatortest.NewDatabase(t, tt.ddl...)
			db := openPath(t, path)
			for _, sql := range tt.dml {
				countRowsExec(t, db, sql)
			}
			set := readSet(t, tt.files)
			who := actor("deployer")
			who.Action = ""
			engine := func() *migration.Engine {
				return &migration.Engine{Locks: db, History: db.WithAudit(who, set.Files...), Schema: db, Partitioned: db, LiveSchema: db,
					Holder: "test", LockTTL: 30 * time.Second, LockTimeout: 30 * time.Second}
			}
			before := len(entries(t, db))
			res, err := engine().Baseline(t.Context(), set, tt.version, db)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || spangate.KindOf(err) != tt.kind {
					t.Fatalf("baseline: %v (kind %v); want %v mentioning %q", err, spangate.KindOf(err), tt.kind, tt.wantErr)
				}
				if hist, _ := db.History(t.Context()); len(hist) != 0 {
					t.Errorf("a refused baseline recorded %d rows", len(hist))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Version != 2 || len(res.Recorded) != 2 {
				t.Fatalf("baseline result %+v", res)
			}
			es := entries(t, db)[before:]
			if len(es) != 1 || es[0].Principal != "deployer" || es[0].Action != "migrate" || !strings.Contains(es[0].Reason, "baseline") {
				t.Errorf("audit entries of the baseline: %+v", es)
			}
			p, err := engine().Plan(t.Context(), set)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Applied) != 2 || len(p.Pending) != 1 || p.Pending[0].Version != 3 {
				t.Errorf("plan after baseline: applied %v, pending %+v", p.Applied, p.Pending)
			}
			for _, f := range p.Findings {
				if f.Rule == migration.RuleDrift {
					t.Errorf("drift after baseline: %+v", f)
				}
			}
			again, err := engine().Baseline(t.Context(), set, tt.version, db)
			if err != nil || len(again.Recorded) != 0 {
				t.Errorf("a second baseline: %+v %v; want nothing recorded", again, err)
			}
			r, err := engine().Apply(t.Context(), set)
			if err != nil || len(r.Applied) != 1 || r.Applied[0] != 3 {
				t.Errorf("apply after baseline: %+v %v", r, err)
			}
		})
	}
}

// countRowsExec runs one DML statement of a test's setup.
func countRowsExec(t *testing.T, db *spannerdb.DB, sql string) {
	t.Helper()
	if _, err := db.Client().ReadWriteTransaction(t.Context(), func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
		_, err := txn.Update(ctx, spanner.NewStatement(sql))
		return err
	}); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
