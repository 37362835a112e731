package sqlstmt_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/sqlstmt"
)

func TestParseSplitsAndClassifies(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		sqls  []string
		kinds []sqlstmt.Kind
	}{
		{
			name:  "two DDL with trailing semicolon",
			text:  "CREATE TABLE A (Id INT64) PRIMARY KEY (Id);\nCREATE INDEX AById ON A (Id);\n",
			sqls:  []string{"CREATE TABLE A (Id INT64) PRIMARY KEY (Id)", "CREATE INDEX AById ON A (Id)"},
			kinds: []sqlstmt.Kind{sqlstmt.DDL, sqlstmt.DDL},
		},
		{
			name:  "semicolon inside string literal",
			text:  "INSERT INTO A (Id, S) VALUES (1, 'a;b'); UPDATE A SET S = \"x;--y\" WHERE Id = 1",
			sqls:  []string{"INSERT INTO A (Id, S) VALUES (1, 'a;b')", "UPDATE A SET S = \"x;--y\" WHERE Id = 1"},
			kinds: []sqlstmt.Kind{sqlstmt.DML, sqlstmt.DML},
		},
		{
			name:  "semicolon inside backquoted name",
			text:  "CREATE TABLE `we;ird` (Id INT64) PRIMARY KEY (Id)",
			sqls:  []string{"CREATE TABLE `we;ird` (Id INT64) PRIMARY KEY (Id)"},
			kinds: []sqlstmt.Kind{sqlstmt.DDL},
		},
		{
			name:  "comments of every style removed",
			text:  "-- leading; comment\n# hash; comment\nCREATE TABLE A ( /* inline; */ Id INT64 -- trailing;\n) PRIMARY KEY (Id);\n-- after last",
			sqls:  []string{"CREATE TABLE A ( Id INT64\n) PRIMARY KEY (Id)"},
			kinds: []sqlstmt.Kind{sqlstmt.DDL},
		},
		{
			name:  "CRLF line endings",
			text:  "CREATE TABLE A (Id INT64) PRIMARY KEY (Id);\r\nSELECT 1;\r\n",
			sqls:  []string{"CREATE TABLE A (Id INT64) PRIMARY KEY (Id)", "SELECT 1"},
			kinds: []sqlstmt.Kind{sqlstmt.DDL, sqlstmt.Query},
		},
		{
			name:  "byte order mark",
			text:  "\uFEFFSELECT 1",
			sqls:  []string{"SELECT 1"},
			kinds: []sqlstmt.Kind{sqlstmt.Query},
		},
		{
			name:  "multi-line triple-quoted string",
			text:  "INSERT INTO A (Id, S) VALUES (1, '''line;\n-- not a comment\nend''')",
			sqls:  []string{"INSERT INTO A (Id, S) VALUES (1, '''line;\n-- not a comment\nend''')"},
			kinds: []sqlstmt.Kind{sqlstmt.DML},
		},
		{
			name: "empty statements dropped",
			text: ";;  ; -- nothing\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stmts, err := sqlstmt.Parse("f.sql", tt.text)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var sqls []string
			var kinds []sqlstmt.Kind
			for _, s := range stmts {
				sqls = append(sqls, s.SQL)
				kinds = append(kinds, s.Kind)
			}
			if !slices.Equal(sqls, tt.sqls) {
				t.Errorf("SQL = %q, want %q", sqls, tt.sqls)
			}
			if !slices.Equal(kinds, tt.kinds) {
				t.Errorf("kinds = %v, want %v", kinds, tt.kinds)
			}
		})
	}
}

func TestDestructive(t *testing.T) {
	tests := []struct {
		text        string
		destructive bool
		table       string
	}{
		{"DROP TABLE Orders", true, "Orders"},
		{"drop   table\n`Orders`", true, "Orders"},
		{"DROP INDEX OrdersByDate", true, ""},
		{"ALTER TABLE Orders DROP COLUMN Note", true, "Orders"},
		{"ALTER TABLE Orders ADD COLUMN Note STRING(MAX)", false, "Orders"},
		{"DELETE FROM Orders WHERE true", true, "Orders"},
		{"DELETE FROM Orders WHERE TRUE", true, "Orders"},
		{"/* WHERE Id = 1 */ DELETE FROM Orders WHERE (true)", true, "Orders"},
		{"delete from Orders where 1 = 1", true, "Orders"},
		{"DELETE FROM Orders WHERE 'a' = 'a'", true, "Orders"},
		{"DELETE FROM Orders WHERE Id = 1 OR TRUE", true, "Orders"},
		{"DELETE FROM Orders WHERE NOT FALSE", true, "Orders"},
		{"DELETE FROM Orders WHERE Id = 1", false, "Orders"},
		{"UPDATE Orders SET Note = 'x' WHERE true -- WHERE Id = 1", true, "Orders"},
		{"update Orders set Note = 'where id = 1' where 2=2", true, "Orders"},
		{"UPDATE Orders SET Note = 'x' WHERE Id = 1", false, "Orders"},
		{"UPDATE Orders SET Note = 'x' WHERE 1 = 2", true, "Orders"}, // reads no column: every row or none
		{"INSERT INTO Orders (Id) VALUES (1)", false, "Orders"},
		{"SELECT * FROM Orders", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			st, err := sqlstmt.ParseOne(tt.text)
			if err != nil {
				t.Fatalf("ParseOne: %v", err)
			}
			st = st.WithKeys([]string{"Id"}, nil)
			if st.Destructive != tt.destructive {
				t.Errorf("Destructive = %v (%s), want %v", st.Destructive, st.DestructiveReason, tt.destructive)
			}
			if st.Table != tt.table {
				t.Errorf("Table = %q, want %q", st.Table, tt.table)
			}
		})
	}
}

func TestRequiredActions(t *testing.T) {
	tests := []struct {
		text string
		want []spangate.Action
	}{
		{"SELECT 1", []spangate.Action{spangate.ActionRead}},
		{"INSERT INTO T (Id) VALUES (1)", []spangate.Action{spangate.ActionWrite}},
		{"DELETE FROM T WHERE true", []spangate.Action{spangate.ActionWrite, spangate.ActionDestructive}},
		{"CREATE TABLE T (Id INT64) PRIMARY KEY (Id)", []spangate.Action{spangate.ActionDDL}},
		{"DROP TABLE T", []spangate.Action{spangate.ActionDDL, spangate.ActionDestructive}},
	}
	for _, tt := range tests {
		st, err := sqlstmt.ParseOne(tt.text)
		if err != nil {
			t.Fatalf("%s: %v", tt.text, err)
		}
		if got := st.RequiredActions(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: RequiredActions = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestParseOneRefusesSmuggling(t *testing.T) {
	for _, text := range []string{
		"SELECT 1; DROP TABLE T",
		"SELECT 1;DELETE FROM T WHERE true;",
		"SELECT 'a' -- x\n; DROP TABLE T",
		"SELECT 1 /* ; */ ; UPDATE T SET A = 1 WHERE true",
	} {
		_, err := sqlstmt.ParseOne(text)
		if err == nil {
			t.Errorf("ParseOne(%q) accepted a second statement", text)
			continue
		}
		if spangate.KindOf(err) != spangate.Invalid {
			t.Errorf("ParseOne(%q) kind = %v, want invalid", text, spangate.KindOf(err))
		}
	}
	// A semicolon hidden in a string or comment is not a second statement.
	for _, text := range []string{"SELECT ';DROP TABLE T'", "SELECT 1 -- ; DROP TABLE T"} {
		if _, err := sqlstmt.ParseOne(text); err != nil {
			t.Errorf("ParseOne(%q): %v", text, err)
		}
	}
}

func TestDirectives(t *testing.T) {
	text := "-- spangate:partitioned\nUPDATE T SET A = 1 WHERE A IS NULL;\nUPDATE T SET B = 1 WHERE B IS NULL;\n/* spangate:allow drop-table */ DROP TABLE X"
	stmts, err := sqlstmt.Parse("m.sql", text)
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 3 {
		t.Fatalf("got %d statements", len(stmts))
	}
	if !stmts[0].Partitioned() || stmts[1].Partitioned() {
		t.Errorf("partitioned = %v, %v; want true, false", stmts[0].Partitioned(), stmts[1].Partitioned())
	}
	if d := stmts[0].Directives[0]; d.Line != 1 {
		t.Errorf("directive line = %d, want 1", d.Line)
	}
	if !stmts[2].HasDirective("allow") || stmts[2].Directives[0].Args[0] != "drop-table" {
		t.Errorf("allow directive = %+v", stmts[2].Directives)
	}
	if stmts[1].Line != 3 || stmts[2].Line != 4 {
		t.Errorf("lines = %d, %d; want 3, 4", stmts[1].Line, stmts[2].Line)
	}
}

func TestSyntaxErrorPositions(t *testing.T) {
	text := "CREATE TABLE A (Id INT64) PRIMARY KEY (Id);\n\n-- comment\nCREATE TABLE B (Id INT64 PRIMARY KEY (Id);\nSELECT 1;\nSELEC 2;\n"
	stmts, err := sqlstmt.Parse("m.sql", text)
	if err == nil {
		t.Fatal("want a syntax error")
	}
	var list sqlstmt.SyntaxErrors
	if !errors.As(err, &list) {
		t.Fatalf("error %T is not SyntaxErrors: %v", err, err)
	}
	if len(list) != 2 {
		t.Fatalf("got %d errors, want 2: %v", len(list), err)
	}
	if list[0].Line != 4 || list[1].Line != 6 || list[1].Column != 1 {
		t.Errorf("positions = %d:%d and %d:%d, want line 4 and 6:1", list[0].Line, list[0].Column, list[1].Line, list[1].Column)
	}
	if !strings.HasPrefix(list[0].Error(), "m.sql:4:") {
		t.Errorf("message %q does not start with file:line", list[0].Error())
	}
	if len(stmts) != 2 {
		t.Errorf("statements that parsed = %d, want 2", len(stmts))
	}
}

func TestDanglingDirective(t *testing.T) {
	_, err := sqlstmt.Parse("m.sql", "SELECT 1;\n-- spangate:partitioned\n")
	if err == nil || !strings.Contains(err.Error(), "m.sql:2:") {
		t.Fatalf("err = %v, want a located dangling-directive error", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"CREATE TABLE A (Id INT64) PRIMARY KEY (Id);",
		"-- spangate:partitioned\nUPDATE T SET A = 1 WHERE true",
		"SELECT 'a;b' /* c */; # d\nDELETE FROM T WHERE 1=1",
		"\uFEFFSELECT `x;y` FROM T\r\n",
		"'''unterminated",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		stmts, err := sqlstmt.Parse("fuzz.sql", text)
		for _, s := range stmts {
			if s.Line < 1 || s.Column < 1 {
				t.Fatalf("bad position %d:%d", s.Line, s.Column)
			}
			// The SQL we would send must parse again as the same kind.
			again, err := sqlstmt.ParseOne(s.SQL)
			if err != nil {
				t.Fatalf("re-parse of %q: %v", s.SQL, err)
			}
			if again.Kind != s.Kind || again.Destructive != s.Destructive {
				t.Fatalf("re-parse changed class of %q", s.SQL)
			}
		}
		if err != nil && spangate.KindOf(err) != spangate.Invalid {
			t.Fatalf("error kind %v: %v", spangate.KindOf(err), err)
		}
	})
}
