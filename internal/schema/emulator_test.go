package schema_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/schema"
	"github.com/spangate/spangate/internal/spannerdb"
)

func TestMain(m *testing.M) { emulatortest.Main(m) }

// liveSchema creates a database from ddl on the emulator and returns the
// model of what GetDatabaseDdl then shows, with the database.
func liveSchema(t *testing.T, ddl ...string) (*schema.Schema, *spannerdb.DB) {
	t.Helper()
	path := emulatortest.NewDatabase(t, ddl...)
	db, err := spannerdb.Open(t.Context(), path, spannerdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return readLive(t, db), db
}

func readLive(t *testing.T, db *spannerdb.DB) *schema.Schema {
	t.Helper()
	stmts, err := db.Schema(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s, err := schema.FromDDL(db.Path(), stmts)
	if err != nil {
		t.Fatalf("model of the live schema: %v\n%s", err, strings.Join(stmts, ";\n"))
	}
	return s
}

// oracle checks diff(a, b) on the emulator: a database built from a, with
// the diff applied, must show the same schema as one built from b, and
// the model of b must match what the emulator shows for it.
func oracle(t *testing.T, a, b *schema.Schema, opID string) {
	t.Helper()
	res := schema.Diff(a, b)
	if err := res.Err(); err != nil {
		t.Fatalf("diff refused: %v\nA:\n%s\nB:\n%s", err, a, b)
	}
	liveA, db := liveSchema(t, a.DDL()...)
	if !schema.Equal(liveA, a) {
		t.Fatalf("the emulator's schema for A differs from the model:\nmodel:\n%s\nemulator:\n%s\ndiff: %v", a, liveA, schema.Diff(a, liveA).Statements())
	}
	if stmts := res.Statements(); len(stmts) > 0 {
		if _, err := db.UpdateSchema(t.Context(), opID, stmts); err != nil {
			t.Fatalf("apply diff: %v\nA:\n%s\nB:\n%s\ndiff:\n%s", err, a, b, strings.Join(stmts, ";\n"))
		}
	}
	got := readLive(t, db)
	want, _ := liveSchema(t, b.DDL()...)
	if !schema.Equal(want, b) {
		t.Fatalf("the emulator's schema for B differs from the model:\nmodel:\n%s\nemulator:\n%s\ndiff: %v", b, want, schema.Diff(b, want).Statements())
	}
	if !schema.Equal(got, want) {
		t.Fatalf("A + diff(A, B) != B\nA:\n%s\nB:\n%s\ndiff:\n%s\nA+diff:\n%s\nremaining: %v", a, b, strings.Join(res.Statements(), ";\n"), got, schema.Diff(got, want).Statements())
	}
}

func mustParse(t *testing.T, text string) *schema.Schema {
	t.Helper()
	s, err := schema.Parse("test.sql", text)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDiffOracleCases(t *testing.T) {
	base := `
CREATE TABLE Singers (Id INT64 NOT NULL, Name STRING(100), Up TIMESTAMP, Bio STRING(MAX) DEFAULT ('x')) PRIMARY KEY (Id);
CREATE TABLE Albums (Id INT64 NOT NULL, AlbumId INT64 NOT NULL, Title STRING(MAX), CONSTRAINT ck_title CHECK (LENGTH(Title) > 0)) PRIMARY KEY (Id, AlbumId), INTERLEAVE IN PARENT Singers ON DELETE CASCADE;
CREATE TABLE Tags (Name STRING(64) NOT NULL, SingerId INT64, CONSTRAINT fk_singer FOREIGN KEY (SingerId) REFERENCES Singers (Id)) PRIMARY KEY (Name);
CREATE INDEX SingersByName ON Singers (Name) STORING (Bio);
CREATE UNIQUE NULL_FILTERED INDEX AlbumsByTitle ON Albums (Id, Title), INTERLEAVE IN Singers;
CREATE VIEW SingerNames SQL SECURITY INVOKER AS SELECT s.Name FROM Singers AS s;
CREATE CHANGE STREAM Everything FOR Singers, Albums;
`
	cases := []struct{ name, to string }{
		{"identical", base},
		{"empty to full", ""},
		{"drop everything", "CREATE TABLE Other (Id INT64 NOT NULL) PRIMARY KEY (Id)"},
		{"column changes", strings.NewReplacer("Name STRING(100)", "Name STRING(200) NOT NULL", "Up TIMESTAMP", "Up TIMESTAMP OPTIONS (allow_commit_timestamp = true)",
			"DEFAULT ('x')", "DEFAULT ('y')", "Title STRING(MAX)", "Title STRING(MAX), Extra BYTES(10)").Replace(base)},
		{"index and constraint changes", strings.NewReplacer("STORING (Bio)", "STORING (Up)", "CREATE UNIQUE NULL_FILTERED INDEX AlbumsByTitle ON Albums (Id, Title)", "CREATE INDEX AlbumsByTitle ON Albums (Id, Title DESC)",
			"LENGTH(Title) > 0", "LENGTH(Title) > 1", "ON DELETE CASCADE", "ON DELETE NO ACTION").Replace(base)},
		{"drop a parent and its child", `CREATE TABLE Tags (Name STRING(64) NOT NULL, SingerId INT64) PRIMARY KEY (Name)`},
		{"view and stream changes", strings.NewReplacer("SELECT s.Name FROM Singers AS s", "SELECT a.Title FROM Albums AS a", "FOR Singers, Albums", "FOR Tags").Replace(base)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := mustParse(t, base), mustParse(t, tc.to)
			if tc.name == "empty to full" {
				a, b = b, a
			}
			oracle(t, a, b, fmt.Sprintf("case_%d", i))
		})
	}
}

// TestDiffOracleRandom is the property test: random valid schemas and
// random valid changes; A + diff(A, B) must equal B on the emulator.
// SPANGATE_SCHEMA_TRIALS sets the number of trials (default 40, 10 with
// -short).
func TestDiffOracleRandom(t *testing.T) {
	trials := 40
	if testing.Short() {
		trials = 10
	}
	if v, err := strconv.Atoi(os.Getenv("SPANGATE_SCHEMA_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	seed := uint64(1)
	if v, err := strconv.ParseUint(os.Getenv("SPANGATE_SCHEMA_SEED"), 10, 64); err == nil {
		seed = v
	}
	for i := 0; i < trials; i++ {
		s := seed + uint64(i)
		t.Run(fmt.Sprintf("seed_%d", s), func(t *testing.T) {
			g := newGen(s)
			a, err := schema.Parse("gen.sql", strings.Join(g.schema(), ";\n"))
			if err != nil {
				t.Fatalf("generated schema: %v", err)
			}
			b := a.Clone()
			var changes []string
			for j := 0; j < 1+g.pick(6); j++ {
				changes = append(changes, g.mutate(b)...)
			}
			t.Logf("changes:\n%s", strings.Join(changes, ";\n"))
			oracle(t, a, b, fmt.Sprintf("trial_%d", s))
		})
	}
}
