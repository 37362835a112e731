package migration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spangate/spangate"
)

const lintBase = `CREATE TABLE Orders (Id INT64 NOT NULL, Note STRING(100), N INT64, Data BYTES(100), Ts TIMESTAMP) PRIMARY KEY (Id);
CREATE TABLE Customers (Id INT64 NOT NULL, Name STRING(MAX)) PRIMARY KEY (Id);
CREATE INDEX OrdersByNote ON Orders (Note);`

// lintPlan plans pending on top of an applied 0001_base.sql.
func lintPlan(t *testing.T, opts CheckOptions, pending ...string) *Plan {
	t.Helper()
	srcs := []Source{{Name: "m/0001_base.sql", Content: []byte(lintBase)}}
	for i, p := range pending {
		srcs = append(srcs, Source{Name: fmt.Sprintf("m/%04d_p.sql", i+2), Content: []byte(p)})
	}
	set := Parse(srcs)
	if errs := set.Errors(); len(errs) > 0 {
		t.Fatalf("set: %+v", errs)
	}
	hist := []Record{{Version: 1, Name: "base", Checksum: set.Files[0].Checksum, State: StateApplied}}
	return NewCheckedPlan(set, hist, opts)
}

func findingsOf(p *Plan, rule string) []Finding {
	var out []Finding
	for _, f := range p.Findings {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

func TestLintRules(t *testing.T) {
	manyIndexes := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "CREATE INDEX Ix%d ON Orders (N, Note%s);\n", i, strings.Repeat(", Ts", i%2))
		}
		return b.String()
	}
	tests := []struct {
		name    string
		pending []string
		rule    string
		sev     Severity // "" means: no finding of this rule
		line    int
		file    int // index of the pending file the finding is in
	}{
		{"drop table", []string{"DROP INDEX OrdersByNote;\nDROP TABLE Orders;"}, RuleDropTable, SeverityError, 2, 0},
		{"drop table in lower case behind a comment", []string{"/* cleanup */ drop   table\n  Customers;"}, RuleDropTable, SeverityError, 1, 0},
		{"drop table allowed", []string{"-- spangate:allow drop-table\nDROP TABLE Customers;"}, RuleDropTable, SeverityInfo, 2, 0},
		{"allow names another rule", []string{"-- spangate:allow drop-column\nDROP TABLE Customers;"}, RuleDropTable, SeverityError, 2, 0},
		{"drop column, quoted", []string{"ALTER TABLE `Orders` DROP COLUMN `Data`;"}, RuleDropColumn, SeverityError, 1, 0},
		{"drop index", []string{"DROP INDEX OrdersByNote;"}, RuleDropIndex, SeverityError, 1, 0},
		{"drop hidden in a string is not a drop", []string{"INSERT INTO Orders (Id, Note) VALUES (1, 'x; DROP TABLE Orders');"}, RuleDropTable, "", 0, 0},
		{"drop then add a column", []string{"ALTER TABLE Orders DROP COLUMN Data;\nALTER TABLE Orders ADD COLUMN Data STRING(MAX);"}, RuleLossyTypeChange, SeverityError, 2, 0},
		{"drop then create a table", []string{"DROP TABLE Customers;", "CREATE TABLE Customers (Id STRING(36) NOT NULL) PRIMARY KEY (Id);"}, RuleLossyTypeChange, SeverityError, 1, 1},
		{"delete where true, with a comment", []string{"DELETE FROM Orders WHERE TRUE -- only test rows\n;"}, RuleDMLWithoutWhere, SeverityError, 1, 0},
		{"update where 1 = 1, lower case", []string{"update Orders set Note = 'x' where (1 = 1);"}, RuleDMLWithoutWhere, SeverityError, 1, 0},
		{"update with a real where", []string{"UPDATE Orders SET Note = 'x' WHERE Id = 1;"}, RuleDMLWithoutWhere, "", 0, 0},
		{"partitioned x = x + 1", []string{"-- spangate:partitioned\nUPDATE Orders SET N = N + 1 WHERE N IS NOT NULL;"}, RulePartitionedNotIdm, SeverityError, 2, 0},
		{"partitioned swap through a path", []string{"-- spangate:partitioned\nUPDATE Orders o SET Note = 'a', N = o.N * 2 WHERE TRUE;"}, RulePartitionedNotIdm, SeverityError, 2, 0},
		{"partitioned idempotent", []string{"-- spangate:partitioned\nUPDATE Orders SET Note = '' WHERE Note IS NULL;"}, RulePartitionedNotIdm, "", 0, 0},
		{"index on an existing table", []string{"CREATE INDEX OrdersByN ON Orders (N);"}, RuleIndexBackfill, SeverityWarning, 1, 0},
		{"index on a table of the same batch", []string{"CREATE TABLE Fresh (Id INT64 NOT NULL, V INT64) PRIMARY KEY (Id);\nCREATE INDEX FreshByV ON Fresh (V);"}, RuleIndexBackfill, "", 0, 0},
		{"index on a table of an earlier batch", []string{"CREATE TABLE Fresh (Id INT64 NOT NULL, V INT64) PRIMARY KEY (Id);\nINSERT INTO Fresh (Id, V) VALUES (1, 2);\nCREATE INDEX FreshByV ON Fresh (V);"}, RuleIndexBackfill, SeverityWarning, 3, 0},
		{"more than 3 backfills", []string{manyIndexes(4)}, RuleIndexBackfillMany, SeverityWarning, 1, 0},
		{"more than 10 validations", []string{manyIndexes(11)}, RuleValidationBatches, SeverityWarning, 1, 0},
		{"not null on an existing column", []string{"ALTER TABLE Orders ALTER COLUMN N INT64 NOT NULL;"}, RuleAddNotNull, SeverityWarning, 1, 0},
		{"not null column added with a default", []string{"ALTER TABLE Orders ADD COLUMN Flag BOOL NOT NULL DEFAULT (false);"}, RuleAddNotNull, SeverityWarning, 1, 0},
		{"shrink a length", []string{"ALTER TABLE Orders ALTER COLUMN Note STRING(10);"}, RuleShrinkLength, SeverityWarning, 1, 0},
		{"bytes to string", []string{"ALTER TABLE Orders ALTER COLUMN Data STRING(100);"}, RuleShrinkLength, SeverityWarning, 1, 0},
		{"widen a length", []string{"ALTER TABLE Orders ALTER COLUMN Note STRING(200);"}, RuleShrinkLength, "", 0, 0},
		{"check on an existing table", []string{"ALTER TABLE Orders ADD CONSTRAINT PositiveN CHECK (N > 0);"}, RuleAddCheck, SeverityWarning, 1, 0},
		{"foreign key on an existing table", []string{"ALTER TABLE Orders ADD COLUMN CustomerId INT64;\nALTER TABLE Orders ADD CONSTRAINT OrdersCustomer FOREIGN KEY (CustomerId) REFERENCES Customers (Id);"}, RuleAddForeignKey, SeverityWarning, 2, 0},
		{"anonymous check", []string{"CREATE TABLE Fresh (Id INT64 NOT NULL, CHECK (Id > 0)) PRIMARY KEY (Id);"}, RuleAnonymous, SeverityWarning, 1, 0},
		{"anonymous foreign key", []string{"CREATE TABLE Fresh (Id INT64 NOT NULL, C INT64, FOREIGN KEY (C) REFERENCES Customers (Id)) PRIMARY KEY (Id);"}, RuleAnonymous, SeverityWarning, 1, 0},
		{"name too long", []string{"CREATE TABLE " + strings.Repeat("T", 129) + " (Id INT64 NOT NULL) PRIMARY KEY (Id);"}, RuleNameTooLong, SeverityWarning, 1, 0},
		{"reserved word", []string{"CREATE TABLE Fresh (Id INT64 NOT NULL, `Select` STRING(MAX)) PRIMARY KEY (Id);"}, RuleReservedWord, SeverityWarning, 1, 0},
		{"update of an existing table by a range", []string{"UPDATE Orders SET Note = 'x' WHERE N > 5;"}, RuleLargeDML, SeverityWarning, 1, 0},
		{"update by key", []string{"UPDATE Orders SET Note = 'x' WHERE Id = @id AND N > 5;"}, RuleLargeDML, "", 0, 0},
		{"delete by key list", []string{"DELETE FROM Orders WHERE Id IN (1, 2, 3);"}, RuleLargeDML, "", 0, 0},
		{"update of a new table", []string{"CREATE TABLE Fresh (Id INT64 NOT NULL, V INT64) PRIMARY KEY (Id);\nUPDATE Fresh SET V = 1 WHERE V IS NULL;"}, RuleLargeDML, "", 0, 0},
		{"partitioned is not limited", []string{"-- spangate:partitioned\nUPDATE Orders SET Note = 'x' WHERE N > 5;"}, RuleLargeDML, "", 0, 0},
		{"index on a missing column", []string{"CREATE INDEX Bad ON Orders (Missing);"}, RuleSchemaError, SeverityError, 1, 0},
		{"drop a table with an index", []string{"DROP TABLE Orders;"}, RuleSchemaError, SeverityError, 1, 0},
		{"drop an indexed column", []string{"ALTER TABLE Orders DROP COLUMN Note;"}, RuleSchemaError, SeverityError, 1, 0},
		{"duplicate table", []string{"CREATE TABLE orders (Id INT64 NOT NULL) PRIMARY KEY (Id);"}, RuleSchemaError, SeverityError, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := lintPlan(t, CheckOptions{}, tt.pending...)
			got := findingsOf(p, tt.rule)
			if tt.sev == "" {
				if len(got) > 0 {
					t.Fatalf("unexpected %s finding: %+v", tt.rule, got)
				}
				return
			}
			if len(got) == 0 {
				t.Fatalf("no %s finding; findings: %+v", tt.rule, p.Findings)
			}
			f := got[0]
			wantFile := fmt.Sprintf("m/%04d_p.sql", tt.file+2)
			if f.Severity != tt.sev || f.File != wantFile || f.Line != tt.line {
				t.Fatalf("finding %+v, want severity %s at %s:%d", f, tt.sev, wantFile, tt.line)
			}
			if f.Message == "" {
				t.Fatal("empty message")
			}
			if tt.sev == SeverityError {
				if f.Blocks != spangate.Blocked || spangate.KindOf(p.Err()) != spangate.Blocked {
					t.Fatalf("error finding does not block with kind Blocked: %+v, %v", f, p.Err())
				}
			}
		})
	}
}

func TestPlanSchemaChanges(t *testing.T) {
	p := lintPlan(t, CheckOptions{}, "CREATE TABLE Fresh (Id INT64 NOT NULL) PRIMARY KEY (Id);\nALTER TABLE Orders ADD COLUMN X BOOL;\nCREATE INDEX OrdersByN ON Orders (N);")
	sc := p.View("db").SchemaChanges
	if sc == nil || fmt.Sprint(sc.TablesAdded, sc.TablesChanged, sc.IndexesAdded) != "[Fresh] [Orders] [OrdersByN]" {
		t.Fatalf("schema changes = %+v", sc)
	}
}

func TestDriftFindings(t *testing.T) {
	faithful := []string{
		"CREATE TABLE SpangateMigrations (Version INT64 NOT NULL, UpdatedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true)) PRIMARY KEY (Version)",
		"CREATE TABLE Orders (Id INT64 NOT NULL, Note STRING(100), N INT64, Data BYTES(100), Ts TIMESTAMP) PRIMARY KEY (Id)",
		"CREATE TABLE Customers (Id INT64 NOT NULL, Name STRING(MAX)) PRIMARY KEY (Id)",
		"CREATE INDEX OrdersByNote ON Orders (Note)",
	}
	t.Run("no drift", func(t *testing.T) {
		p := lintPlan(t, CheckOptions{Live: faithful, HaveLive: true, FailOnDrift: true})
		if d := findingsOf(p, RuleDrift); len(d) > 0 || p.Err() != nil {
			t.Fatalf("drift: %+v %v", d, p.Err())
		}
	})
	drifted := append(append([]string(nil), faithful[:3]...), "CREATE TABLE Extra (Id INT64 NOT NULL) PRIMARY KEY (Id)")
	drifted[1] = strings.Replace(drifted[1], "STRING(100)", "STRING(200)", 1)
	t.Run("drift warns", func(t *testing.T) {
		p := lintPlan(t, CheckOptions{Live: drifted, HaveLive: true})
		d := findingsOf(p, RuleDrift)
		msgs := fmt.Sprint(d)
		if len(d) != 3 || p.Err() != nil || !strings.Contains(msgs, "table Extra exists in the live database") ||
			!strings.Contains(msgs, "index OrdersByNote is created by the applied migrations but missing") || !strings.Contains(msgs, "column Orders.Note differs") {
			t.Fatalf("drift findings: %+v (err %v)", d, p.Err())
		}
	})
	t.Run("fail on drift blocks", func(t *testing.T) {
		p := lintPlan(t, CheckOptions{Live: drifted, HaveLive: true, FailOnDrift: true})
		if spangate.KindOf(p.Err()) != spangate.Blocked {
			t.Fatalf("err = %v", p.Err())
		}
	})
	t.Run("partial backend", func(t *testing.T) {
		fake := []string{
			"CREATE TABLE SpangateMigrations (Version INT64 NOT NULL, UpdatedAt TIMESTAMP NOT NULL) PRIMARY KEY (Version)",
			faithful[2], faithful[1],
		}
		p := lintPlan(t, CheckOptions{Live: fake, HaveLive: true, FailOnDrift: true}, "DROP INDEX OrdersByNote;")
		if d := findingsOf(p, RuleDrift); len(d) > 0 {
			t.Fatalf("false drift on a partial backend: %+v", d)
		}
		if len(findingsOf(p, RuleDriftPartial)) != 1 || len(findingsOf(p, RuleSchemaError)) != 0 {
			t.Fatalf("findings: %+v", p.Findings)
		}
	})
}

func TestEscalateDrift(t *testing.T) {
	fs := EscalateDrift([]Finding{{Severity: SeverityWarning, Rule: RuleDrift}, {Severity: SeverityWarning, Rule: RuleIndexBackfill}})
	if fs[0].Severity != SeverityError || fs[0].Blocks != spangate.Blocked || fs[1].Severity != SeverityWarning {
		t.Fatalf("%+v", fs)
	}
}
