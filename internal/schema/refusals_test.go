package schema_test

import (
	"strings"
	"testing"

	"github.com/spangate/spangate/internal/schema"
)

// TestModelAgreesWithEmulator applies each statement to a base schema in
// the model and on the emulator: the model must refuse exactly what the
// emulator refuses (each refusal names the file and line), so that every
// schema-error in a plan comes from a rule Spanner enforces.
func TestModelAgreesWithEmulator(t *testing.T) {
	base := []string{
		"CREATE PROTO BUNDLE (ex.M1, ex.M2, ex.E)",
		"CREATE TABLE t (k INT64, a INT64, b INT64, s STRING(MAX), d DATE, bb BYTES(MAX), m ex.M1, e ex.E, ab ARRAY<BYTES(MAX)>, s_t TOKENLIST AS (TOKENIZE_FULLTEXT(s)) HIDDEN) PRIMARY KEY (k)",
		"CREATE INDEX ta ON t (a) STORING (b)",
		"CREATE SEARCH INDEX ts ON t (s_t)",
		"CREATE TABLE p (pk STRING(10)) PRIMARY KEY (pk)",
		"CREATE TABLE c (pk STRING(10), ck INT64) PRIMARY KEY (pk, ck), INTERLEAVE IN PARENT p",
		"CREATE TABLE solo (sk STRING(10)) PRIMARY KEY (sk)",
	}
	tests := []struct {
		name, stmt string
		refused    bool
	}{
		{"view with SELECT *", "CREATE VIEW v SQL SECURITY INVOKER AS SELECT * FROM t", true},
		{"view column without a name", "CREATE VIEW v SQL SECURITY INVOKER AS SELECT t.a + 1 FROM t", true},
		{"view columns with one name", "CREATE VIEW v SQL SECURITY INVOKER AS SELECT t.a, t.a FROM t", true},
		{"view with named columns", "CREATE VIEW v SQL SECURITY INVOKER AS SELECT t.a, t.a + 1 AS a1 FROM t", false},
		{"change stream listing a key column", "CREATE CHANGE STREAM cs FOR t(k)", true},
		{"change stream listing other columns", "CREATE CHANGE STREAM cs FOR t(a, b)", false},
		{"generated column reading a missing column", "ALTER TABLE t ADD COLUMN g INT64 AS (a + zz) STORED", true},
		{"generated column with date parts", "ALTER TABLE t ADD COLUMN g DATE AS (DATE_TRUNC(d, MONTH)) STORED", false},
		{"check with EXTRACT", "ALTER TABLE t ADD CONSTRAINT ck CHECK (EXTRACT(YEAR FROM d) > 1900)", false},
		{"check reading a missing column", "ALTER TABLE t ADD CONSTRAINT ck CHECK (zz > 0)", true},
		{"table without a primary key", "CREATE TABLE nokey (k INT64)", true},
		{"table with an empty primary key", "CREATE TABLE onerow (k INT64) PRIMARY KEY ()", false},
		{"foreign key to a missing table", "CREATE TABLE f (k INT64, CONSTRAINT fk FOREIGN KEY (k) REFERENCES nope (k)) PRIMARY KEY (k)", true},
		{"foreign key to a missing column", "CREATE TABLE f (k INT64, CONSTRAINT fk FOREIGN KEY (k) REFERENCES t (nope)) PRIMARY KEY (k)", true},
		{"search index over a missing TOKENLIST column", "CREATE SEARCH INDEX si ON t (nope_t)", true},
		{"TOKENLIST column not HIDDEN", "ALTER TABLE t ADD COLUMN a_t TOKENLIST AS (TOKENIZE_FULLTEXT(s))", true},
		{"misspelled column type", "CREATE TABLE x (k INT64, X STRNG) PRIMARY KEY (k)", true},
		{"proto type not in the bundle", "ALTER TABLE t ADD COLUMN q ex.Nope", true},
		{"DROP INDEX of a search index", "DROP INDEX ts", false},
		{"DROP SEARCH INDEX", "DROP SEARCH INDEX ts", false},
		{"NOT NULL on a column an index only stores", "ALTER TABLE t ALTER COLUMN b INT64 NOT NULL", false},
		{"NOT NULL on an index key column", "ALTER TABLE t ALTER COLUMN a INT64 NOT NULL", true},
		{"BYTES(MAX) to a proto", "ALTER TABLE t ALTER COLUMN bb ex.M1", false},
		{"a proto to another", "ALTER TABLE t ALTER COLUMN m ex.M2", false},
		{"a proto to BYTES", "ALTER TABLE t ALTER COLUMN m BYTES(MAX)", false},
		{"an enum to INT64", "ALTER TABLE t ALTER COLUMN e INT64", false},
		{"INT64 to an enum", "ALTER TABLE t ALTER COLUMN a ex.E", false},
		{"ARRAY<BYTES> to ARRAY<proto>", "ALTER TABLE t ALTER COLUMN ab ARRAY<ex.M1>", false},
		{"an enum to STRING", "ALTER TABLE t ALTER COLUMN e STRING(MAX)", true},
		{"INT64 to STRING", "ALTER TABLE t ALTER COLUMN a STRING(MAX)", true},
		{"a proto type still used", "ALTER PROTO BUNDLE DELETE (ex.M1)", true},
		{"a proto type no column uses", "ALTER PROTO BUNDLE DELETE (ex.M2)", false},
		{"longer key column", "ALTER TABLE solo ALTER COLUMN sk STRING(20)", false},
		{"STRING key column to BYTES", "ALTER TABLE solo ALTER COLUMN sk BYTES(10)", false},
		{"key column NOT NULL", "ALTER TABLE solo ALTER COLUMN sk STRING(10) NOT NULL", true},
		{"key column of a parent", "ALTER TABLE p ALTER COLUMN pk STRING(20)", true},
		{"inherited key column of a child", "ALTER TABLE c ALTER COLUMN pk STRING(20)", true},
		{"new NOT NULL column with a default", "ALTER TABLE t ADD COLUMN n INT64 NOT NULL DEFAULT (0)", false},
		{"new NOT NULL column without one", "ALTER TABLE t ADD COLUMN n INT64 NOT NULL", true},
		{"commit timestamps on a key column", "CREATE TABLE tk (k TIMESTAMP OPTIONS (allow_commit_timestamp = true)) PRIMARY KEY (k)", false},
		{"drop a column an index uses", "ALTER TABLE t DROP COLUMN b", true},
		{"drop a table with a search index", "DROP TABLE t", true},
		{"type change of a column a stored generated column reads", "ALTER TABLE t ADD COLUMN g STRING(MAX) AS (s) STORED; ALTER TABLE t ALTER COLUMN s BYTES(MAX)", true},
		{"length change of a column a stored generated column reads", "ALTER TABLE t ADD COLUMN g STRING(MAX) AS (s) STORED; ALTER TABLE t ALTER COLUMN s STRING(100)", false},
		{"index outside its table's named schema", "CREATE SCHEMA sch; CREATE TABLE sch.x (k INT64) PRIMARY KEY (k); CREATE INDEX xk ON sch.x (k)", true},
		{"index in its table's named schema", "CREATE SCHEMA sch; CREATE TABLE sch.x (k INT64) PRIMARY KEY (k); CREATE INDEX sch.xk ON sch.x (k)", false},
	}
	e := newEmu(t)
	model, err := schema.Parse("base.sql", strings.Join(base, ";\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := model.Clone()
			stmts := strings.Split(tt.stmt, "; ")
			var merr error
			for _, st := range stmts {
				if _, merr = applyText(s, st); merr != nil {
					break
				}
			}
			if (merr != nil) != tt.refused {
				t.Errorf("model: refused=%v (%v), want refused=%v", merr != nil, merr, tt.refused)
			}
			if merr != nil && !strings.HasPrefix(merr.Error(), "gen:1: ") {
				t.Errorf("model refusal %q does not name file:line", merr)
			}
			_, eerr := e.create(append(append([]string(nil), base...), stmts...))
			if (eerr != nil) != tt.refused {
				t.Errorf("emulator: refused=%v (%v), want refused=%v", eerr != nil, eerr, tt.refused)
			}
		})
	}
}
