package schema

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/spangate/spangate"
)

const applyBase = `
CREATE TABLE Singers (Id INT64 NOT NULL, Name STRING(100), Bio STRING(MAX)) PRIMARY KEY (Id);
CREATE TABLE Albums (Id INT64 NOT NULL, AlbumId INT64 NOT NULL, Title STRING(MAX)) PRIMARY KEY (Id, AlbumId), INTERLEAVE IN PARENT Singers ON DELETE CASCADE;
CREATE TABLE Tags (Name STRING(64) NOT NULL, SingerId INT64, CONSTRAINT fk_singer FOREIGN KEY (SingerId) REFERENCES Singers (Id)) PRIMARY KEY (Name);
CREATE INDEX SingersByName ON Singers (Name) STORING (Bio);
CREATE VIEW Names SQL SECURITY INVOKER AS SELECT s.Name FROM Singers AS s;
`

// TestApplyRefusals checks that the model refuses what Spanner refuses,
// with the file and line of the statement.
func TestApplyRefusals(t *testing.T) {
	tests := []struct{ name, stmt, want string }{
		{"drop a table with indexes", "DROP TABLE Singers", "cannot drop table Singers with indexes: SingersByName"},
		{"drop a parent", "DROP INDEX SingersByName;\nDROP TABLE Singers", "table Albums is interleaved in it"},
		{"drop a referenced table", "DROP TABLE Albums;\nDROP INDEX SingersByName;\nDROP VIEW Names;\nDROP TABLE Singers", "foreign key fk_singer of table Tags references it"},
		{"drop a table a view reads", "DROP TABLE Albums;\nALTER TABLE Tags DROP CONSTRAINT fk_singer;\nDROP INDEX SingersByName;\nDROP TABLE Singers", "view Names depends on it"},
		{"index on a missing column", "CREATE INDEX X ON Singers (Nope)", "index X: table Singers has no column Nope"},
		{"index on a missing table", "CREATE INDEX X ON Nope (Id)", "table Nope does not exist"},
		{"duplicate table, other case", "CREATE TABLE singers (Id INT64) PRIMARY KEY (Id)", "duplicate name in schema: singers is a table"},
		{"index named like a table", "CREATE INDEX Albums ON Singers (Name)", "duplicate name in schema"},
		{"drop an indexed column", "ALTER TABLE Singers DROP COLUMN Bio", "index SingersByName uses it"},
		{"drop a key column", "ALTER TABLE Singers DROP COLUMN Id", "cannot drop key column"},
		{"drop a referenced column", "ALTER TABLE Tags DROP COLUMN SingerId", "foreign key fk_singer uses it"},
		{"child key not prefixed by parent", "CREATE TABLE Bad (X INT64 NOT NULL) PRIMARY KEY (X), INTERLEAVE IN PARENT Singers", "must be its parent Singers's key column Id"},
		{"missing parent", "CREATE TABLE Bad (Id INT64 NOT NULL) PRIMARY KEY (Id), INTERLEAVE IN PARENT Nope", "parent table Nope does not exist"},
		{"not null without default", "ALTER TABLE Singers ADD COLUMN Flag BOOL NOT NULL", "without a DEFAULT"},
		{"incompatible type change", "ALTER TABLE Singers ALTER COLUMN Name INT64", "cannot change column Singers.Name from STRING(100) to INT64"},
		{"not null on an indexed column", "ALTER TABLE Singers ALTER COLUMN Name STRING(100) NOT NULL", "it is a key of index SingersByName"},
		{"unknown constraint", "ALTER TABLE Tags DROP CONSTRAINT nope", "has no constraint nope"},
		{"foreign key to a missing column", "ALTER TABLE Tags ADD CONSTRAINT fk2 FOREIGN KEY (SingerId) REFERENCES Singers (Nope)", "does not exist"},
		{"foreign key type mismatch", "ALTER TABLE Tags ADD CONSTRAINT fk2 FOREIGN KEY (Name) REFERENCES Singers (Id)", "different types"},
		{"array key", "CREATE TABLE Bad (A ARRAY<INT64>) PRIMARY KEY (A)", "cannot be part of the primary key"},
		{"interleaved index not prefixed", "CREATE INDEX X ON Albums (Title), INTERLEAVE IN Singers", "does not reference index parent key column Id"},
		{"row deletion policy on a string", "ALTER TABLE Albums ADD ROW DELETION POLICY (OLDER_THAN(Title, INTERVAL 1 DAY))", "must be a TIMESTAMP"},
		{"row deletion policy on a referenced table", "ALTER TABLE Singers ADD ROW DELETION POLICY (OLDER_THAN(Name, INTERVAL 1 DAY))", "foreign key fk_singer of table Tags references it"},
		{"drop a missing index", "DROP INDEX Nope", "index Nope does not exist"},
		{"stored key column", "CREATE INDEX X ON Singers (Name) STORING (Id)", "is a key column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("m/0001.sql", applyBase)
			if err != nil {
				t.Fatal(err)
			}
			var last error
			for i, line := range strings.Split(tt.stmt, "\n") {
				st, perr := parseOneForTest(line)
				if perr != nil {
					t.Fatal(perr)
				}
				st.Line = i + 1
				if last = s.Apply("m/0002.sql", &st); last != nil {
					break
				}
			}
			if last == nil {
				t.Fatalf("accepted; want %q", tt.want)
			}
			ae, ok := AsApplyError(last)
			if !ok || spangate.KindOf(last) != spangate.Invalid || ae.File != "m/0002.sql" || !strings.Contains(ae.Message, tt.want) {
				t.Fatalf("error %v (%+v), want %q at m/0002.sql", last, ae, tt.want)
			}
			if !strings.HasPrefix(last.Error(), fmt.Sprintf("m/0002.sql:%d: ", ae.Line)) {
				t.Fatalf("error %q does not start with file:line", last)
			}
		})
	}
}

func TestApplyKeepsUnknownStatements(t *testing.T) {
	s, err := Parse("x.sql", "CREATE TABLE T (Id INT64 NOT NULL, Toks TOKENLIST AS (TOKENIZE_FULLTEXT(Name)) HIDDEN, Name STRING(MAX)) PRIMARY KEY (Id);\n"+
		"CREATE SEARCH INDEX TBySearch ON T (Toks);\nCREATE ROLE reader;\nGRANT SELECT(Name), INSERT ON TABLE T TO ROLE reader;\nREVOKE INSERT ON TABLE T FROM ROLE reader;")
	if err != nil {
		t.Fatal(err)
	}
	ddl := strings.Join(s.DDL(), ";\n")
	for _, want := range []string{"CREATE SEARCH INDEX TBySearch ON T (Toks)", "CREATE ROLE reader", "GRANT SELECT(Name) ON TABLE T TO ROLE reader", "HIDDEN"} {
		if !strings.Contains(ddl, want) {
			t.Errorf("DDL lacks %q:\n%s", want, ddl)
		}
	}
	if strings.Contains(ddl, "INSERT ON TABLE") {
		t.Errorf("REVOKE did not remove the grant:\n%s", ddl)
	}
	if _, err := s.Clone().applyText("DROP TABLE T"); err == nil || !strings.Contains(err.Error(), "with indexes: TBySearch") {
		t.Errorf("drop of a table with a search index: %v", err)
	}
}

func TestRenderRoundTrip(t *testing.T) {
	s, err := Parse("a.sql", applyBase+"CREATE CHANGE STREAM S FOR Singers(Name) OPTIONS (retention_period = '36h');\nCREATE SEQUENCE Seq OPTIONS (sequence_kind = 'bit_reversed_positive');")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("b.sql", s.String())
	if err != nil {
		t.Fatalf("canonical DDL does not re-apply: %v\n%s", err, s)
	}
	if s.String() != again.String() || !Equal(s, again) {
		t.Fatalf("render is not stable:\n%s\n---\n%s", s, again)
	}
	b, err := json.Marshal(s)
	if err != nil || !strings.Contains(string(b), `"name":"Albums"`) {
		t.Fatalf("json: %v %s", err, b)
	}
}

func TestDiffRefusals(t *testing.T) {
	a, _ := Parse("a", "CREATE TABLE P (Id INT64 NOT NULL) PRIMARY KEY (Id);\nCREATE TABLE Q (Id INT64 NOT NULL) PRIMARY KEY (Id);\nCREATE TABLE T (Id INT64 NOT NULL, V INT64, CHECK (V > 0)) PRIMARY KEY (Id), INTERLEAVE IN PARENT P")
	b, _ := Parse("b", "CREATE TABLE P (Id INT64 NOT NULL) PRIMARY KEY (Id);\nCREATE TABLE Q (Id INT64 NOT NULL) PRIMARY KEY (Id);\nCREATE TABLE T (Id INT64 NOT NULL, V STRING(MAX), W BOOL NOT NULL) PRIMARY KEY (Id), INTERLEAVE IN PARENT Q")
	r := Diff(a, b)
	msg := fmt.Sprint(r.Err())
	for _, want := range []string{"interleave parent changes from P to Q", "type changes from INT64 to STRING(MAX)", "is anonymous"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusals lack %q:\n%s", want, msg)
		}
	}
	if spangate.KindOf(r.Err()) != spangate.Invalid {
		t.Errorf("kind %v", spangate.KindOf(r.Err()))
	}
	for _, c := range r.Changes {
		if strings.HasPrefix(c.SQL, "DROP TABLE") || strings.Contains(c.SQL, "DROP COLUMN V") {
			t.Errorf("silent drop-and-recreate: %s", c.SQL)
		}
	}
}

func TestDiffOrder(t *testing.T) {
	a, _ := Parse("a", applyBase)
	b, _ := Parse("b", "CREATE TABLE Other (Id INT64 NOT NULL) PRIMARY KEY (Id);\nCREATE TABLE Child (Id INT64 NOT NULL, C INT64 NOT NULL) PRIMARY KEY (Id, C), INTERLEAVE IN PARENT Other;\nCREATE INDEX ChildByC ON Child (C)")
	stmts := Diff(a, b).Statements()
	pos := func(prefix string) int {
		for i, s := range stmts {
			if strings.HasPrefix(s, prefix) {
				return i
			}
		}
		t.Fatalf("no %q in %q", prefix, stmts)
		return -1
	}
	order := []string{"DROP VIEW Names", "DROP INDEX SingersByName", "DROP TABLE Tags", "DROP TABLE Albums", "DROP TABLE Singers",
		"CREATE TABLE Other", "CREATE TABLE Child", "CREATE INDEX ChildByC"}
	for i := 1; i < len(order); i++ {
		if pos(order[i-1]) > pos(order[i]) && !(strings.HasPrefix(order[i-1], "DROP TABLE") && strings.HasPrefix(order[i], "DROP TABLE")) {
			t.Errorf("%q comes after %q:\n%s", order[i-1], order[i], strings.Join(stmts, "\n"))
		}
	}
	if pos("DROP TABLE Albums") > pos("DROP TABLE Singers") {
		t.Errorf("parent dropped before child:\n%s", strings.Join(stmts, "\n"))
	}
}

// FuzzModelApply feeds DDL text to the model: it must never panic, a
// schema it builds must render to DDL that builds the same schema again.
func FuzzModelApply(f *testing.F) {
	for _, seed := range []string{applyBase, "CREATE TABLE T (Id INT64) PRIMARY KEY (Id); DROP TABLE T;",
		"CREATE TABLE `Select` (`Order` STRING(10) NOT NULL DEFAULT ('x')) PRIMARY KEY (`Order` DESC)",
		"ALTER TABLE X ADD COLUMN Y INT64", "CREATE CHANGE STREAM S FOR ALL", "CREATE SEQUENCE S; DROP SEQUENCE S",
		"CREATE PROTO BUNDLE (ex.A); ALTER PROTO BUNDLE DELETE (ex.A)", "CREATE PROTO BUNDLE (ex.A, ex.E); CREATE TABLE P (K INT64, M ex.A, E ex.E) PRIMARY KEY (K)",
		"CREATE SCHEMA s; CREATE TABLE s.T (K INT64, A STRING(MAX), T TOKENLIST AS (TOKENIZE_FULLTEXT(A)) HIDDEN) PRIMARY KEY (K); CREATE SEARCH INDEX s.I ON s.T (T) STORING (A)"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse("fuzz.sql", text)
		if err != nil || s == nil {
			return
		}
		again, err := Parse("again.sql", s.String())
		if err != nil {
			t.Fatalf("canonical DDL does not re-apply: %v\n%s", err, s)
		}
		if !Equal(s, again) {
			t.Fatalf("round trip differs: %v\n%s", Diff(s, again).Statements(), s)
		}
	})
}

func parseOneForTest(text string) (stmt sqlstmtStatement, err error) { return parseOneStatement(text) }

func (s *Schema) applyText(text string) (*Schema, error) {
	st, err := parseOneStatement(text)
	if err != nil {
		return s, err
	}
	return s, s.Apply("test", &st)
}
