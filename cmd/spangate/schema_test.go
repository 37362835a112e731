package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spangate/spangate/internal/emulator"
)

// TestSchemaDumpDiffAndDrift drives schema dump, schema diff and drift in
// plan on the emulator: migrations applied, the live schema changed behind
// their back, plan warns, --fail-on-drift blocks with exit 4.
func TestSchemaDumpDiffAndDrift(t *testing.T) {
	d := startDev(t, map[string]string{"PATH": "/usr/bin:/bin"}, emulator.Find, "--addr", "127.0.0.1:0", "--spanner-addr", "127.0.0.1:0")
	dir := writeMigrations(t, map[string]string{
		"0001_orders.sql": "CREATE TABLE Orders (Id INT64 NOT NULL, Note STRING(MAX)) PRIMARY KEY (Id);\nCREATE INDEX OrdersByNote ON Orders (Note);",
		"0002_lines.sql":  "CREATE TABLE Lines (Id INT64 NOT NULL, Line INT64 NOT NULL, Qty INT64) PRIMARY KEY (Id, Line), INTERLEAVE IN PARENT Orders ON DELETE CASCADE;",
	})
	env := map[string]string{"SPANNER_EMULATOR_HOST": d.spannerHost, "SPANGATE_DATABASE": d.database}
	if _, stderr, code := cli(t, env, "migrate", "apply", "--dir", dir); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}

	dump, stderr, code := cli(t, env, "schema", "dump")
	if code != 0 {
		t.Fatalf("dump: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"CREATE TABLE Orders", "CREATE INDEX OrdersByNote ON Orders (Note);", "INTERLEAVE IN PARENT Orders ON DELETE CASCADE;"} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump lacks %q:\n%s", want, dump)
		}
	}
	if strings.Contains(dump, "Spangate") {
		t.Errorf("dump shows spangate's own tables:\n%s", dump)
	}
	if strings.Index(dump, "CREATE TABLE Orders") > strings.Index(dump, "CREATE TABLE Lines") {
		t.Errorf("dump puts a child before its parent:\n%s", dump)
	}
	out, stderr, code := cli(t, env, "schema", "diff", "--from", "db:", "--to", dir)
	if code != 0 || out != "" || !strings.Contains(stderr, "no differences") {
		t.Fatalf("diff live vs migrations: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}

	// No drift yet.
	out, stderr, code = cli(t, env, "migrate", "plan", "--dir", dir, "--format", "json", "--fail-on-drift")
	if code != 0 || strings.Contains(out, `"rule": "drift"`) {
		t.Log(stderr)
		t.Fatalf("plan before drift: exit %d\n%s", code, out)
	}
	// Change the live schema behind the migrations' back.
	if _, stderr, code := cli(t, env, "exec", "--sql", "ALTER TABLE Orders ADD COLUMN Sneaky BOOL"); code != 0 {
		t.Fatalf("exec: exit %d\n%s", code, stderr)
	}
	out, _, code = cli(t, env, "migrate", "plan", "--dir", dir, "--format", "json")
	if code != 0 || !strings.Contains(out, `"rule": "drift"`) || !strings.Contains(out, "Orders.Sneaky") {
		t.Fatalf("plan after drift: exit %d, want 0 and a drift warning\n%s", code, out)
	}
	out, _, code = cli(t, env, "migrate", "plan", "--dir", dir, "--fail-on-drift")
	if code != exitBlocked || !strings.Contains(out, "[drift]") {
		t.Fatalf("plan --fail-on-drift: exit %d, want 4\n%s", code, out)
	}
	if _, stderr, code := cli(t, env, "migrate", "apply", "--dir", dir, "--fail-on-drift"); code != exitBlocked {
		t.Fatalf("apply --fail-on-drift: exit %d, want 4\n%s", code, stderr)
	}

	// The declarative workflow: diff the live schema to a target file,
	// save it as the next migration, plan (lint) and apply it.
	target := filepath.Join(t.TempDir(), "schema.sql")
	if err := os.WriteFile(target, []byte(strings.Replace(dump, "Qty INT64", "Qty INT64,\n  Price NUMERIC", 1)+
		"CREATE INDEX LinesByQty ON Lines (Id, Qty), INTERLEAVE IN Orders;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	next, stderr, code := cli(t, env, "schema", "diff", "--from", dir, "--to", target)
	if code != 0 || !strings.Contains(next, "ALTER TABLE Lines ADD COLUMN Price NUMERIC;") || !strings.Contains(next, "CREATE INDEX LinesByQty") {
		t.Fatalf("diff to target: exit %d\n%s\n%s", code, next, stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "0003_next.sql"), []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code = cli(t, env, "migrate", "plan", "--dir", dir, "--format", "json")
	var view struct {
		Findings      []map[string]any `json:"findings"`
		SchemaChanges struct {
			TablesChanged []string `json:"tables_changed"`
			IndexesAdded  []string `json:"indexes_added"`
		} `json:"schema_changes"`
	}
	if err := json.Unmarshal([]byte(out), &view); err != nil || code != 0 {
		t.Fatalf("plan of the diff: exit %d %v\n%s", code, err, out)
	}
	if strings.Join(view.SchemaChanges.TablesChanged, ",") != "Lines" || strings.Join(view.SchemaChanges.IndexesAdded, ",") != "LinesByQty" {
		t.Errorf("schema_changes = %+v", view.SchemaChanges)
	}
	if !strings.Contains(out, `"rule": "index-backfill"`) {
		t.Errorf("no index-backfill warning for an index on an existing table:\n%s", out)
	}
	text, _, _ := cli(t, env, "migrate", "plan", "--dir", dir)
	if !strings.Contains(text, "Schema after apply:") || !strings.Contains(text, "indexes added (1): LinesByQty") {
		t.Errorf("text plan lacks the schema summary:\n%s", text)
	}
}

// TestDriftOnTheFake checks that on the in-process fake (whose
// GetDatabaseDdl omits indexes, INTERLEAVE and OPTIONS) plan compares only
// what it shows and says so, without false drift.
func TestDriftOnTheFake(t *testing.T) {
	d := startDevOnFake(t)
	dir := writeMigrations(t, map[string]string{
		"0001_a.sql": "CREATE TABLE Orders (Id INT64 NOT NULL, Note STRING(MAX), Ts TIMESTAMP OPTIONS (allow_commit_timestamp = true)) PRIMARY KEY (Id);\nCREATE INDEX OrdersByNote ON Orders (Note);",
	})
	env := map[string]string{"SPANNER_EMULATOR_HOST": d.spannerHost, "SPANGATE_DATABASE": d.database}
	if _, stderr, code := cli(t, env, "migrate", "apply", "--dir", dir); code != 0 {
		t.Fatalf("apply on the fake: exit %d\n%s", code, stderr)
	}
	out, _, code := cli(t, env, "migrate", "plan", "--dir", dir, "--format", "json", "--fail-on-drift")
	if code != 0 || strings.Contains(out, `"rule": "drift"`) || !strings.Contains(out, `"rule": "drift-partial"`) {
		t.Fatalf("plan on the fake: exit %d, want 0, no drift, a drift-partial note\n%s", code, out)
	}
}

func TestSchemaDiffRefusesAndSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.sql", "CREATE TABLE T (Id INT64 NOT NULL, V INT64) PRIMARY KEY (Id);")
	b := write("b.sql", "CREATE TABLE T (Id INT64 NOT NULL, V STRING(MAX)) PRIMARY KEY (Id DESC);")
	_, stderr, code := cli(t, map[string]string{}, "schema", "diff", "--from", a, "--to", b)
	if code != exitInvalid || !strings.Contains(stderr, "primary key changes") || !strings.Contains(stderr, "type changes from INT64 to STRING(MAX)") {
		t.Fatalf("refused diff: exit %d\n%s", code, stderr)
	}
	out, _, code := cli(t, map[string]string{}, "schema", "diff", "--from", "empty", "--to", a, "--format", "json")
	if code != 0 || !strings.Contains(out, `"CREATE TABLE T (\n  Id INT64 NOT NULL,\n  V INT64\n) PRIMARY KEY (Id)"`) {
		t.Fatalf("diff from empty: exit %d\n%s", code, out)
	}
	_, stderr, code = cli(t, map[string]string{"SPANGATE_URL": "http://127.0.0.1:1"}, "schema", "dump", "--database", "x")
	if code != exitInvalid || !strings.Contains(stderr, "no schema endpoint") {
		t.Fatalf("dump through a gateway: exit %d\n%s", code, stderr)
	}
	_, stderr, code = cli(t, map[string]string{}, "schema", "diff", "--from", filepath.Join(dir, "missing.sql"), "--to", a)
	if code != exitInvalid || !strings.Contains(stderr, "does not exist") {
		t.Fatalf("missing source: exit %d\n%s", code, stderr)
	}
	bad := write("bad.sql", "CREATE TABLE T (Id INT64 NOT NULL) PRIMARY KEY (Id);\nCREATE INDEX I ON T (Missing);")
	_, stderr, code = cli(t, map[string]string{}, "schema", "diff", "--from", "empty", "--to", bad)
	if code != exitInvalid || !strings.Contains(stderr, "bad.sql:2: index I: table T has no column Missing") {
		t.Fatalf("invalid source: exit %d\n%s", code, stderr)
	}
}

// TestSchemaDiffDropsAndLiveAgreement checks --drops on a real plan (the
// annotated output plans green, bare drops block, omitted ones are listed
// on stderr), and that a live schema read from the emulator (named
// schemas, search indexes and HIDDEN TOKENLIST columns, which its
// GetDatabaseDdl misprints) diffs empty against the files that built it.
func TestSchemaDiffDropsAndLiveAgreement(t *testing.T) {
	d := startDev(t, map[string]string{"PATH": "/usr/bin:/bin"}, emulator.Find, "--addr", "127.0.0.1:0", "--spanner-addr", "127.0.0.1:0")
	dir := writeMigrations(t, map[string]string{
		"0001_base.sql": "CREATE SCHEMA sch;\nCREATE TABLE sch.Events (Id INT64 NOT NULL) PRIMARY KEY (Id);\n" +
			"CREATE TABLE Docs (Id INT64 NOT NULL, Body STRING(MAX), Old INT64, Body_T TOKENLIST AS (TOKENIZE_FULLTEXT(Body)) HIDDEN) PRIMARY KEY (Id);\n" +
			"CREATE SEARCH INDEX DocsSearch ON Docs (Body_T);\nCREATE INDEX DocsByOld ON Docs (Old);\nCREATE TABLE Legacy (Id INT64 NOT NULL) PRIMARY KEY (Id);",
	})
	env := map[string]string{"SPANNER_EMULATOR_HOST": d.spannerHost, "SPANGATE_DATABASE": d.database}
	if _, stderr, code := cli(t, env, "migrate", "apply", "--dir", dir); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	out, stderr, code := cli(t, env, "schema", "diff", "--from", "db:", "--to", dir)
	if code != 0 || out != "" || !strings.Contains(stderr, "no differences") {
		t.Fatalf("live vs files: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}

	target := filepath.Join(t.TempDir(), "schema.sql")
	if err := os.WriteFile(target, []byte("CREATE SCHEMA sch;\nCREATE TABLE sch.Events (Id INT64 NOT NULL) PRIMARY KEY (Id);\n"+
		"CREATE TABLE Docs (Id INT64 NOT NULL, Body STRING(MAX), Body_T TOKENLIST AS (TOKENIZE_FULLTEXT(Body)) HIDDEN, Added INT64 NOT NULL) PRIMARY KEY (Id);\n"+
		"CREATE SEARCH INDEX DocsSearch ON Docs (Body_T);"), 0o644); err != nil {
		t.Fatal(err)
	}
	omitted, stderr, code := cli(t, env, "schema", "diff", "--from", "db:", "--to", target, "--drops", "omit")
	if code != 0 || strings.Contains(omitted, "DROP TABLE") || strings.Contains(omitted, "DROP INDEX") || !strings.Contains(stderr, "omitted (--drops=omit): DROP TABLE Legacy;") ||
		!strings.Contains(omitted, "ADD COLUMN Added INT64 NOT NULL DEFAULT (0)") {
		t.Fatalf("--drops=omit: exit %d\nstdout:\n%s\nstderr:\n%s", code, omitted, stderr)
	}
	bare, _, code := cli(t, env, "schema", "diff", "--from", dir, "--to", target, "--drops", "include")
	if code != 0 || strings.Contains(bare, "spangate:allow") || !strings.Contains(bare, "DROP TABLE Legacy;") {
		t.Fatalf("--drops=include: exit %d\n%s", code, bare)
	}
	if err := os.WriteFile(filepath.Join(dir, "0002_next.sql"), []byte(bare), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, code := cli(t, env, "migrate", "plan", "--dir", dir); code != exitBlocked || !strings.Contains(out, "[drop-table]") {
		t.Fatalf("plan of bare drops: exit %d, want 4\n%s", code, out)
	}
	annotated, _, code := cli(t, env, "schema", "diff", "--from", "db:", "--to", target)
	if code != 0 || !strings.Contains(annotated, "-- loses: table Legacy and every row in it\n-- spangate:allow drop-table\nDROP TABLE Legacy;") ||
		!strings.Contains(annotated, "-- spangate:allow drop-index\nDROP INDEX DocsByOld;") || !strings.Contains(annotated, "-- warning: new NOT NULL column Docs.Added") {
		t.Fatalf("--drops=annotate: exit %d\n%s", code, annotated)
	}
	if err := os.WriteFile(filepath.Join(dir, "0002_next.sql"), []byte(annotated), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, code := cli(t, env, "migrate", "plan", "--dir", dir); code != 0 {
		t.Fatalf("plan of the annotated diff: exit %d, want 0\n%s", code, out)
	}
	if _, stderr, code := cli(t, env, "migrate", "apply", "--dir", dir); code != 0 {
		t.Fatalf("apply of the annotated diff: exit %d\n%s", code, stderr)
	}
	out, stderr, code = cli(t, env, "schema", "diff", "--from", "db:", "--to", target)
	if code != 0 || out != "" {
		t.Fatalf("live after apply vs target: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
}
