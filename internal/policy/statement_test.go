package policy_test

import (
	"strings"
	"testing"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/sqlstmt"
)

const guardrails = base + `rules:
  - name: everyone-reads
    when: "true"
    databases: [db]
    allow: [read]
  - name: writers
    when: claims.role in ["writer", "admin"]
    databases: [db]
    allow: [write, ddl]
  - name: admins-destroy
    when: claims.role == "admin"
    databases: [db]
    allow: [destructive]
  - name: migrator
    when: claims.role == "migrator"
    databases: [db]
    allow: [plan, migrate]
  - name: migrator-drops
    when: claims.role == "migrator" && claims.env == "cleanup"
    databases: [db]
    allow: [destructive]
`

func role(r string) spangate.Principal {
	return spangate.Principal{Issuer: "gh", Subject: r, Claims: map[string]any{"role": r}}
}

// TestDecideStatement covers every guardrail, with the danger hidden in
// comments, string literals, case and whitespace.
func TestDecideStatement(t *testing.T) {
	p, err := loadText(guardrails)
	if err != nil {
		t.Fatal(err)
	}
	const (
		allow   = "allow"
		deny    = "deny"
		invalid = "invalid"
	)
	tests := []struct {
		name, sql, who, want, reason string
	}{
		{"query needs read", "SELECT 1", "reader", allow, "SELECT needs read on db: rule everyone-reads grants read"},
		{"DROP inside a string literal is a query", "select 'DROP TABLE x' AS s", "reader", allow, ""},
		{"DROP after a line comment is a query", "SELECT * FROM t -- ; DROP TABLE t", "reader", allow, ""},
		{"DROP inside a block comment is a query", "SELECT /* ; DROP TABLE t; */ id FROM t", "reader", allow, ""},
		{"trailing semicolon is one statement", "SELECT 1;", "reader", allow, ""},
		{"second statement is refused", "SELECT 1; DROP TABLE t", "admin", invalid, "2 statements given where exactly one is allowed"},
		{"second statement after a comment is refused", "SELECT 1 /* x */ ;\n-- c\nDELETE FROM t WHERE true", "admin", invalid, "exactly one"},
		{"empty text is refused", "  ", "admin", invalid, "no SQL statement"},
		{"comment only is refused", "-- nothing here", "admin", invalid, "no SQL statement"},
		{"syntax error is refused", "SELEC 1", "admin", invalid, ""},
		{"insert needs write", "INSERT INTO t (id) VALUES (1)", "reader", deny, "INSERT on t needs write: rule writers: condition false"},
		{"insert by a writer", "INSERT INTO t (id) VALUES (1)", "writer", allow, "rule writers grants write"},
		{"update with a where, key unknown", "UPDATE t SET x = 1 WHERE id = 1", "writer", deny, "not known to fix the table's primary key"},
		{"where true is destructive", "DELETE FROM t WHERE true", "writer", deny, "needs write, destructive: rule admins-destroy: condition false"},
		{"where TRUE in odd case", "delete from T where TRUE", "writer", deny, "destructive"},
		{"where 1=1", "DELETE FROM t WHERE 1=1", "writer", deny, "destructive"},
		{"where (true) OR", "UPDATE t SET x = 1 WHERE (id = 1 OR true)", "writer", deny, "destructive"},
		{"extra whitespace", "\n\t  DELETE\n   FROM   t\n WHERE\ttrue  \n", "writer", deny, "destructive"},
		{"where hidden after a comment", "UPDATE t SET x=1 WHERE true -- AND id=1", "writer", deny, "destructive"},
		{"delete of every row by an admin", "DELETE FROM t WHERE true", "admin", allow, "rule writers grants write; rule admins-destroy grants destructive"},
		{"where in a block comment: no WHERE at all", "/* WHERE */ DELETE FROM t", "admin", invalid, ""},
		{"where in a line comment: no WHERE at all", "update T set x=1 -- where id=1", "admin", invalid, ""},
		{"semicolon in a string literal", "DELETE FROM t WHERE id = 'x; DROP TABLE t'", "writer", deny, "DELETE on t [destructive"},
		{"create table needs ddl", "CREATE TABLE t (id INT64) PRIMARY KEY (id)", "reader", deny, "CREATE TABLE on t needs ddl"},
		{"create table by a writer", "create table t (id int64) primary key (id)", "writer", allow, "rule writers grants ddl"},
		{"drop table is destructive", "  DROP   TABLE   t  ", "writer", deny, "needs ddl, destructive"},
		{"drop table in lower case", "drop table t", "writer", deny, "destructive"},
		{"drop index is destructive", "DROP INDEX i", "writer", deny, "destructive"},
		{"drop column is destructive", "ALTER TABLE t DROP COLUMN c", "writer", deny, "destructive"},
		{"drop table by an admin", "DROP TABLE t", "admin", allow, ""},
		{"add column is not destructive", "ALTER TABLE t ADD COLUMN c STRING(MAX)", "writer", allow, ""},
		{"migrator may not exec ddl", "CREATE INDEX i ON t (c)", "migrator", deny, "needs ddl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := p.DecideStatement(role(tt.who), "db", tt.sql)
			switch tt.want {
			case invalid:
				if err == nil || spangate.KindOf(err) != spangate.Invalid || !strings.Contains(err.Error(), tt.reason) {
					t.Fatalf("DecideStatement = %+v, %v; want an invalid error containing %q", d, err, tt.reason)
				}
				return
			case allow, deny:
				if err != nil {
					t.Fatalf("DecideStatement: %v", err)
				}
				if d.Allow != (tt.want == allow) || !strings.Contains(d.Reason, tt.reason) {
					t.Errorf("DecideStatement = %+v; want %s with reason containing %q", d, tt.want, tt.reason)
				}
			}
		})
	}
}

func TestDecideMigration(t *testing.T) {
	p, err := loadText(guardrails)
	if err != nil {
		t.Fatal(err)
	}
	cleanup := spangate.Principal{Issuer: "gh", Subject: "m", Claims: map[string]any{"role": "migrator", "env": "cleanup"}}
	tests := []struct {
		name   string
		pr     spangate.Principal
		sql    string
		allow  bool
		rule   string
		reason string
	}{
		{"ddl and dml need only migrate", role("migrator"), "CREATE TABLE t (id INT64) PRIMARY KEY (id);\nINSERT INTO t (id) VALUES (1);", true, "migrator", "the migration needs migrate on db"},
		{"a drop needs destructive too", role("migrator"), "CREATE TABLE u (id INT64) PRIMARY KEY (id);\n\nDROP TABLE t;", false, "migrator-drops",
			`the migration (its statement at line 3: DROP TABLE on t [destructive: `},
		{"a drop with destructive", cleanup, "DROP TABLE t", true, "migrator-drops", "rule migrator grants migrate; rule migrator-drops grants destructive"},
		{"writers may not migrate", role("admin"), "CREATE TABLE t (id INT64) PRIMARY KEY (id)", false, "migrator", "the migration needs migrate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stmts, err := sqlstmt.Parse("", tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			d := p.DecideMigration(tt.pr, "db", stmts)
			if d.Allow != tt.allow || d.Rule != tt.rule || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("DecideMigration = %+v\nwant allow=%v rule=%q reason containing %q", d, tt.allow, tt.rule, tt.reason)
			}
		})
	}
}

// TestDecideParsedKeysAndProtected decides statements classified against
// their table's key, and statements that name spangate's own tables, which
// no rule can allow.
func TestDecideParsedKeysAndProtected(t *testing.T) {
	p, err := loadText(guardrails)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, sql, who string
		allow          bool
		reason         string
	}{
		{"update fixing the key", "UPDATE t SET x = 1 WHERE id = 1", "writer", true, ""},
		{"delete fixing the key with a string", "DELETE FROM t WHERE id = 'x; DROP TABLE t'", "writer", true, ""},
		{"delete ranging the key", "DELETE FROM t WHERE id BETWEEN 1 AND 100", "writer", true, ""},
		{"delete by a non-key column", "DELETE FROM t WHERE x = 1", "writer", false, "does not fix the primary key's first column id"},
		{"tautology on the key", "DELETE FROM t WHERE id IS NOT NULL", "writer", false, "destructive"},
		{"audit trail read by an admin", "SELECT * FROM SpangateAudit", "admin", false, "belongs to spangate"},
		{"audit head write by an admin", "UPDATE SpangateAuditHead SET LastSeq = 1 WHERE Id = 0", "admin", false, "belongs to spangate"},
		{"history in a subquery", "DELETE FROM t WHERE id IN (SELECT Version FROM spangatemigrations)", "admin", false, "belongs to spangate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := sqlstmt.ParseOne(tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			st = st.WithKeys([]string{"id"}, nil)
			d := p.DecideParsed(role(tt.who), "db", &st)
			if d.Allow != tt.allow || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("DecideParsed = %+v; want allow=%v with reason containing %q", d, tt.allow, tt.reason)
			}
		})
	}
	stmts, err := sqlstmt.Parse("", "CREATE TABLE u (id INT64) PRIMARY KEY (id);\nINSERT INTO SpangateMigrations (Version) VALUES (9)")
	if err != nil {
		t.Fatal(err)
	}
	admin := spangate.Principal{Issuer: "gh", Subject: "m", Claims: map[string]any{"role": "migrator", "env": "cleanup"}}
	if d := p.DecideMigration(admin, "db", stmts); d.Allow || !strings.Contains(d.Reason, "line 2") || !strings.Contains(d.Reason, "belongs to spangate") {
		t.Errorf("DecideMigration of a history forgery = %+v; want a deny naming line 2", d)
	}
}
