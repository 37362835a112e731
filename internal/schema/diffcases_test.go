package schema_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/spangate/spangate/internal/schema"
)

// TestDiffOracleIssueCases runs each repro of the diff's known misses and
// variations of it on the emulator: from + diff must equal to. want lists
// statements the diff must hold, in that order.
func TestDiffOracleIssueCases(t *testing.T) {
	cases := []struct {
		name, from, to string
		want           []string
	}{
		// A foreign key on another table that references a dropped column.
		{"fk on another table references a dropped column",
			`CREATE TABLE p (k INT64, c INT64) PRIMARY KEY (k);
			 CREATE TABLE ch (k INT64, CONSTRAINT fk FOREIGN KEY (k) REFERENCES p (c)) PRIMARY KEY (k)`,
			`CREATE TABLE p (k INT64) PRIMARY KEY (k);
			 CREATE TABLE ch (k INT64) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE ch DROP CONSTRAINT fk", "ALTER TABLE p DROP COLUMN c"}},
		{"referencing table dropped with the referenced column",
			`CREATE TABLE p (k INT64, c INT64) PRIMARY KEY (k);
			 CREATE TABLE ch (k INT64, CONSTRAINT fk FOREIGN KEY (k) REFERENCES p (c)) PRIMARY KEY (k)`,
			`CREATE TABLE p (k INT64) PRIMARY KEY (k)`,
			[]string{"DROP TABLE ch", "ALTER TABLE p DROP COLUMN c"}},
		{"foreign key replaced by another",
			`CREATE TABLE p (k INT64, c INT64) PRIMARY KEY (k);
			 CREATE TABLE ch (k INT64, CONSTRAINT fk FOREIGN KEY (k) REFERENCES p (c)) PRIMARY KEY (k)`,
			`CREATE TABLE p (k INT64) PRIMARY KEY (k);
			 CREATE TABLE ch (k INT64, CONSTRAINT fk2 FOREIGN KEY (k) REFERENCES p (k)) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE ch DROP CONSTRAINT fk", "ALTER TABLE p DROP COLUMN c", "ALTER TABLE ch ADD CONSTRAINT fk2"}},
		{"foreign key kept by name, pointed at another column that replaces the dropped one",
			`CREATE TABLE p (k INT64, c INT64) PRIMARY KEY (k);
			 CREATE TABLE ch (k INT64, CONSTRAINT fk FOREIGN KEY (k) REFERENCES p (c)) PRIMARY KEY (k)`,
			`CREATE TABLE p (k INT64, d INT64) PRIMARY KEY (k);
			 CREATE TABLE ch (k INT64, CONSTRAINT fk FOREIGN KEY (k) REFERENCES p (d)) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE ch DROP CONSTRAINT fk", "ALTER TABLE p DROP COLUMN c", "ALTER TABLE ch ADD CONSTRAINT fk"}},
		{"referenced table dropped, the referencing one kept",
			`CREATE TABLE p (k INT64) PRIMARY KEY (k);
			 CREATE TABLE ch (k INT64, CONSTRAINT fk FOREIGN KEY (k) REFERENCES p (k)) PRIMARY KEY (k)`,
			`CREATE TABLE ch (k INT64) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE ch DROP CONSTRAINT fk", "DROP TABLE p"}},
		{"foreign key around a STRING to BYTES change on both sides",
			`CREATE TABLE p (k INT64, c STRING(10)) PRIMARY KEY (k);
			 CREATE UNIQUE INDEX pc ON p (c);
			 CREATE TABLE ch (k INT64, c STRING(10), CONSTRAINT fk FOREIGN KEY (c) REFERENCES p (c)) PRIMARY KEY (k)`,
			`CREATE TABLE p (k INT64, c BYTES(10)) PRIMARY KEY (k);
			 CREATE UNIQUE INDEX pc ON p (c);
			 CREATE TABLE ch (k INT64, c BYTES(10), CONSTRAINT fk FOREIGN KEY (c) REFERENCES p (c)) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE ch DROP CONSTRAINT fk", "ALTER TABLE p ALTER COLUMN c BYTES(10)", "ALTER TABLE ch ADD CONSTRAINT fk"}},
		// A change stream moved to a new table while its old table goes.
		{"change stream moved to a new table",
			`CREATE TABLE a (k INT64) PRIMARY KEY (k); CREATE CHANGE STREAM s FOR a`,
			`CREATE TABLE b (k INT64) PRIMARY KEY (k); CREATE CHANGE STREAM s FOR b`,
			[]string{"CREATE TABLE b", "ALTER CHANGE STREAM s SET FOR b", "DROP TABLE a"}},
		{"change stream stops tracking a dropped column",
			`CREATE TABLE a (k INT64, c INT64, d INT64) PRIMARY KEY (k); CREATE CHANGE STREAM s FOR a(c, d)`,
			`CREATE TABLE a (k INT64, d INT64) PRIMARY KEY (k); CREATE CHANGE STREAM s FOR a(d)`,
			[]string{"ALTER CHANGE STREAM s SET FOR a(d)", "ALTER TABLE a DROP COLUMN c"}},
		{"view moved to a new table",
			`CREATE TABLE a (k INT64) PRIMARY KEY (k); CREATE VIEW v SQL SECURITY INVOKER AS SELECT a.k FROM a`,
			`CREATE TABLE b (k INT64) PRIMARY KEY (k); CREATE VIEW v SQL SECURITY INVOKER AS SELECT b.k FROM b`,
			[]string{"CREATE TABLE b", "CREATE OR REPLACE VIEW v", "DROP TABLE a"}},
		{"a name moves from a table to a view",
			`CREATE TABLE x (k INT64) PRIMARY KEY (k); CREATE TABLE y (k INT64) PRIMARY KEY (k)`,
			`CREATE TABLE y (k INT64) PRIMARY KEY (k); CREATE VIEW x SQL SECURITY INVOKER AS SELECT y.k FROM y`,
			[]string{"DROP TABLE x", "CREATE VIEW x"}},
		{"column default moves to a new sequence, the old one goes",
			`CREATE SEQUENCE s1 OPTIONS (sequence_kind = 'bit_reversed_positive');
			 CREATE TABLE t (k INT64 DEFAULT (GET_NEXT_SEQUENCE_VALUE(SEQUENCE s1))) PRIMARY KEY (k)`,
			`CREATE SEQUENCE s2 OPTIONS (sequence_kind = 'bit_reversed_positive');
			 CREATE TABLE t (k INT64 DEFAULT (GET_NEXT_SEQUENCE_VALUE(SEQUENCE s2))) PRIMARY KEY (k)`,
			[]string{"CREATE SEQUENCE s2", "ALTER TABLE t ALTER COLUMN k SET DEFAULT", "DROP SEQUENCE s1"}},
		{"index on a generated column whose expression changes",
			`CREATE TABLE t (k INT64, a INT64, g INT64 AS (a + 1) STORED) PRIMARY KEY (k); CREATE INDEX tg ON t (g)`,
			`CREATE TABLE t (k INT64, a INT64, g INT64 AS (a + 2) STORED) PRIMARY KEY (k); CREATE INDEX tg ON t (g)`,
			[]string{"DROP INDEX tg", "ALTER TABLE t DROP COLUMN g", "ALTER TABLE t ADD COLUMN g", "CREATE INDEX tg"}},
		{"stored generated column around a STRING to BYTES change of a column it reads",
			`CREATE TABLE t (k INT64, s STRING(10), g INT64 AS (LENGTH(s)) STORED) PRIMARY KEY (k)`,
			`CREATE TABLE t (k INT64, s BYTES(10), g INT64 AS (LENGTH(s)) STORED) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE t DROP COLUMN g", "ALTER TABLE t ALTER COLUMN s BYTES(10)", "ALTER TABLE t ADD COLUMN g"}},
		{"view around a STRING to BYTES change of a column it reads",
			`CREATE TABLE t (k INT64, s STRING(10)) PRIMARY KEY (k); CREATE VIEW v SQL SECURITY INVOKER AS SELECT t.s FROM t`,
			`CREATE TABLE t (k INT64, s BYTES(10)) PRIMARY KEY (k); CREATE VIEW v SQL SECURITY INVOKER AS SELECT t.s FROM t`,
			[]string{"DROP VIEW v", "ALTER TABLE t ALTER COLUMN s BYTES(10)", "CREATE VIEW v"}},
		{"index around a NOT NULL change of its key, not of a stored column",
			`CREATE TABLE t (k INT64, a INT64, b INT64) PRIMARY KEY (k); CREATE INDEX ta ON t (a) STORING (b)`,
			`CREATE TABLE t (k INT64, a INT64 NOT NULL, b INT64 NOT NULL) PRIMARY KEY (k); CREATE INDEX ta ON t (a) STORING (b)`,
			[]string{"DROP INDEX ta", "ALTER TABLE t ALTER COLUMN a INT64 NOT NULL", "CREATE INDEX ta"}},
		// OPTIONS on a primary-key column, both ways.
		{"commit timestamps on a key column",
			`CREATE TABLE t (k TIMESTAMP) PRIMARY KEY (k)`,
			`CREATE TABLE t (k TIMESTAMP OPTIONS (allow_commit_timestamp = true)) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE t ALTER COLUMN k SET OPTIONS (allow_commit_timestamp = true)"}},
		{"no more commit timestamps on a key column",
			`CREATE TABLE t (k TIMESTAMP OPTIONS (allow_commit_timestamp = true)) PRIMARY KEY (k)`,
			`CREATE TABLE t (k TIMESTAMP) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE t ALTER COLUMN k SET OPTIONS (allow_commit_timestamp = NULL)"}},
		// Refused before, though Spanner does it.
		{"new NOT NULL columns of every type on an existing table",
			`CREATE TABLE t (k INT64) PRIMARY KEY (k)`,
			`CREATE TABLE t (k INT64, i INT64 NOT NULL, f FLOAT64 NOT NULL, f32 FLOAT32 NOT NULL, n NUMERIC NOT NULL, s STRING(10) NOT NULL, b BYTES(MAX) NOT NULL,
			   o BOOL NOT NULL, d DATE NOT NULL, ts TIMESTAMP NOT NULL, j JSON NOT NULL, ai ARRAY<INT64> NOT NULL, as2 ARRAY<STRING(5)> NOT NULL,
			   own STRING(3) NOT NULL DEFAULT ('x')) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE t ADD COLUMN i INT64 NOT NULL DEFAULT (0)", "ALTER TABLE t ALTER COLUMN i DROP DEFAULT"}},
		{"longer STRING key column",
			`CREATE TABLE t (k STRING(10)) PRIMARY KEY (k)`,
			`CREATE TABLE t (k STRING(20)) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE t ALTER COLUMN k STRING(20)"}},
		{"STRING key column to BYTES, and a referenced key made longer",
			`CREATE TABLE t (k STRING(10)) PRIMARY KEY (k);
			 CREATE TABLE u (k BYTES(10)) PRIMARY KEY (k);
			 CREATE TABLE r (k INT64, uk BYTES(10), CONSTRAINT fku FOREIGN KEY (uk) REFERENCES u (k)) PRIMARY KEY (k)`,
			`CREATE TABLE t (k BYTES(10)) PRIMARY KEY (k);
			 CREATE TABLE u (k BYTES(MAX)) PRIMARY KEY (k);
			 CREATE TABLE r (k INT64, uk BYTES(10), CONSTRAINT fku FOREIGN KEY (uk) REFERENCES u (k)) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE t ALTER COLUMN k BYTES(10)", "ALTER TABLE u ALTER COLUMN k BYTES(MAX)"}},
		{"search index stores another column",
			`CREATE TABLE t (k INT64, a STRING(MAX), b INT64, c INT64, a_t TOKENLIST AS (TOKENIZE_FULLTEXT(a)) HIDDEN) PRIMARY KEY (k);
			 CREATE SEARCH INDEX si ON t (a_t) STORING (b)`,
			`CREATE TABLE t (k INT64, a STRING(MAX), b INT64, c INT64, a_t TOKENLIST AS (TOKENIZE_FULLTEXT(a)) HIDDEN) PRIMARY KEY (k);
			 CREATE SEARCH INDEX si ON t (a_t) STORING (c)`,
			[]string{"ALTER SEARCH INDEX si DROP STORED COLUMN b", "ALTER SEARCH INDEX si ADD STORED COLUMN c"}},
		{"search index dropped with its table",
			`CREATE TABLE t (k INT64, a STRING(MAX), a_t TOKENLIST AS (TOKENIZE_FULLTEXT(a)) HIDDEN) PRIMARY KEY (k);
			 CREATE SEARCH INDEX si ON t (a_t)`,
			`CREATE TABLE u (k INT64) PRIMARY KEY (k)`,
			[]string{"DROP SEARCH INDEX si", "DROP TABLE t"}},
		// Proto and enum columns (issue 13).
		{"proto and enum column types",
			`CREATE PROTO BUNDLE (ex.M1, ex.M2, ex.E);
			 CREATE TABLE p (k INT64, b BYTES(MAX), m ex.M1, e ex.E, i INT64, ab ARRAY<BYTES(MAX)>, old ex.M2) PRIMARY KEY (k)`,
			`CREATE PROTO BUNDLE (ex.M1, ex.M2, ex.E);
			 CREATE TABLE p (k INT64, b ex.M1, m ex.M2, e INT64, i ex.E, ab ARRAY<ex.M1>, old BYTES(MAX)) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE p ALTER COLUMN b ex.M1", "ALTER TABLE p ALTER COLUMN m ex.M2", "ALTER TABLE p ALTER COLUMN e INT64", "ALTER TABLE p ALTER COLUMN i ex.E"}},
		{"proto types added to and deleted from the bundle",
			`CREATE PROTO BUNDLE (ex.M1, ex.E);
			 CREATE TABLE p (k INT64, m ex.M1) PRIMARY KEY (k)`,
			`CREATE PROTO BUNDLE (ex.M2, ex.E);
			 CREATE TABLE p (k INT64, m BYTES(MAX), n ex.M2) PRIMARY KEY (k)`,
			[]string{"ALTER PROTO BUNDLE INSERT (ex.M2)", "ALTER TABLE p ALTER COLUMN m BYTES(MAX)", "ALTER PROTO BUNDLE DELETE (ex.M1)"}},
		{"a proto type added with the column that uses it",
			`CREATE PROTO BUNDLE (ex.M1);
			 CREATE TABLE p (k INT64) PRIMARY KEY (k)`,
			`CREATE PROTO BUNDLE (ex.M1, ex.M2);
			 CREATE TABLE p (k INT64, n ex.M2) PRIMARY KEY (k)`,
			[]string{"ALTER PROTO BUNDLE INSERT (ex.M2)", "ALTER TABLE p ADD COLUMN n ex.M2"}},
		// Named schemas, which the emulator's GetDatabaseDdl leaves out.
		{"a table into a named schema",
			`CREATE SCHEMA sch; CREATE TABLE sch.t (k INT64) PRIMARY KEY (k)`,
			`CREATE SCHEMA sch; CREATE TABLE sch.t (k INT64, c INT64) PRIMARY KEY (k); CREATE TABLE sch.u (k INT64) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE sch.t ADD COLUMN c INT64", "CREATE TABLE sch.u"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := oracle(t, mustParse(t, tc.from), mustParse(t, tc.to))
			stmts := res.Statements()
			last := -1
			for _, w := range tc.want {
				i := slices.IndexFunc(stmts, func(s string) bool { return len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) })
				if i < 0 || i < last {
					t.Fatalf("want %q after the statements before it in %q, got:\n%s", w, tc.want, strings.Join(stmts, ";\n"))
				}
				last = i
			}
		})
	}
}

// TestDiffNotNullWarning checks that a new NOT NULL column names the
// default existing rows get.
func TestDiffNotNullWarning(t *testing.T) {
	res := schema.Diff(mustParse(t, "CREATE TABLE t (k INT64) PRIMARY KEY (k)"), mustParse(t, "CREATE TABLE t (k INT64, c DATE NOT NULL) PRIMARY KEY (k)"))
	if len(res.Changes) != 2 || !strings.Contains(res.Changes[0].Warning, "DATE '1970-01-01'") {
		t.Fatalf("changes %+v", res.Changes)
	}
}

// TestDiffOrderWithoutEmulator covers what this emulator build cannot
// run (locality groups are a syntax error there): the order of the
// diff's statements.
func TestDiffOrderWithoutEmulator(t *testing.T) {
	cases := []struct {
		name, from, to string
		want           []string
	}{
		{"locality group dropped after the table stops using it",
			`CREATE LOCALITY GROUP lg1; CREATE TABLE t (k INT64) PRIMARY KEY (k), OPTIONS (locality_group = 'lg1')`,
			`CREATE TABLE t (k INT64) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE t SET OPTIONS (locality_group = NULL)", "DROP LOCALITY GROUP lg1"}},
		{"locality group created before a column uses it, the old one dropped after",
			`CREATE LOCALITY GROUP lg1; CREATE TABLE t (k INT64, c INT64 OPTIONS (locality_group = 'lg1')) PRIMARY KEY (k)`,
			`CREATE LOCALITY GROUP lg2; CREATE TABLE t (k INT64, c INT64 OPTIONS (locality_group = 'lg2')) PRIMARY KEY (k)`,
			[]string{"CREATE LOCALITY GROUP lg2", "ALTER TABLE t ALTER COLUMN c SET OPTIONS (locality_group = ", "DROP LOCALITY GROUP lg1"}},
		{"grant revoked before its table goes, role dropped after",
			`CREATE TABLE t (k INT64) PRIMARY KEY (k); CREATE ROLE r; GRANT SELECT ON TABLE t TO ROLE r`,
			`CREATE TABLE u (k INT64) PRIMARY KEY (k)`,
			[]string{"REVOKE SELECT ON TABLE t FROM ROLE r", "DROP TABLE t"}},
		{"grant on a new table after the table",
			`CREATE ROLE r`,
			`CREATE ROLE r; CREATE TABLE t (k INT64) PRIMARY KEY (k); GRANT SELECT ON TABLE t TO ROLE r`,
			[]string{"CREATE TABLE t", "GRANT SELECT ON TABLE t TO ROLE r"}},
		{"hidden generated column added again",
			`CREATE TABLE t (k INT64, a INT64, g INT64 AS (a * 2)) PRIMARY KEY (k)`,
			`CREATE TABLE t (k INT64, a INT64, g INT64 AS (a * 2) HIDDEN) PRIMARY KEY (k)`,
			[]string{"ALTER TABLE t DROP COLUMN g", "ALTER TABLE t ADD COLUMN g INT64 AS (a * 2) HIDDEN"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := schema.Diff(mustParse(t, tc.from), mustParse(t, tc.to))
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			stmts := res.Statements()
			last := -1
			for _, w := range tc.want {
				i := slices.IndexFunc(stmts, func(s string) bool { return len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) })
				if i < 0 || i < last {
					t.Fatalf("want %q in this order, got:\n%s", tc.want, strings.Join(stmts, ";\n"))
				}
				last = i
			}
			// The model accepts the statements in that order and reaches
			// the target.
			got := mustParse(t, tc.from)
			for _, s := range stmts {
				if _, err := applyText(got, s); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
			if !schema.Equal(got, mustParse(t, tc.to)) {
				t.Fatalf("from + diff != to: %v", schema.Diff(got, mustParse(t, tc.to)).Statements())
			}
		})
	}
}

// TestDiffHiddenDataColumnRefused: Spanner has no ALTER COLUMN … HIDDEN,
// and a column that holds data is never dropped to add it again.
func TestDiffHiddenDataColumnRefused(t *testing.T) {
	res := schema.Diff(mustParse(t, "CREATE TABLE t (k INT64, c INT64) PRIMARY KEY (k)"), mustParse(t, "CREATE TABLE t (k INT64, c INT64 HIDDEN) PRIMARY KEY (k)"))
	if res.Err() == nil || !strings.Contains(res.Err().Error(), "HIDDEN") {
		t.Fatalf("want a HIDDEN refusal, got %v %v", res.Err(), res.Statements())
	}
}
