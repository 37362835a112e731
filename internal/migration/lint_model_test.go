package migration

import (
	"strings"
	"testing"
)

// TestLintModelFindings checks the findings that come from the schema
// model: a statement Spanner refuses is a schema-error at its file and
// line (a misspelled column type among them), one Spanner accepts is not,
// and a new NOT NULL column names the default existing rows get.
func TestLintModelFindings(t *testing.T) {
	base := "CREATE TABLE T (Id INT64 NOT NULL, A INT64, B INT64) PRIMARY KEY (Id);\nCREATE INDEX TA ON T (A) STORING (B);\n"
	tests := []struct {
		name, pending, rule, want string
		line                      int
	}{
		{"misspelled type", "CREATE TABLE U (\n  Id INT64 NOT NULL,\n  X STRNG\n) PRIMARY KEY (Id);", RuleSchemaError, "STRNG, which is not a Spanner type", 1},
		{"stored column made NOT NULL", "ALTER TABLE T ALTER COLUMN B INT64 NOT NULL;", RuleSchemaError, "", 0},
		{"index key made NOT NULL", "\nALTER TABLE T ALTER COLUMN A INT64 NOT NULL;", RuleSchemaError, "key of index TA", 2},
		{"new NOT NULL column with a default", "ALTER TABLE T ADD COLUMN C INT64 NOT NULL DEFAULT (7);", RuleAddNotNull, "writes the default 7 into every existing row", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := Parse([]Source{{Name: "m/0001_base.sql", Content: []byte(base)}, {Name: "m/0002_next.sql", Content: []byte(tt.pending)}})
			if errs := set.Errors(); len(errs) > 0 {
				t.Fatalf("set: %+v", errs)
			}
			p := NewCheckedPlan(set, []Record{{Version: 1, Name: "base", Checksum: set.Files[0].Checksum, State: StateApplied}}, CheckOptions{})
			var got *Finding
			for i, f := range p.Findings {
				if f.Rule == tt.rule {
					got = &p.Findings[i]
				}
			}
			if tt.want == "" {
				if got != nil {
					t.Fatalf("unexpected finding %+v", got)
				}
				return
			}
			if got == nil || !strings.Contains(got.Message, tt.want) || got.File != "m/0002_next.sql" || got.Line != tt.line {
				t.Fatalf("finding %+v, want %q at m/0002_next.sql:%d; all: %+v", got, tt.want, tt.line, p.Findings)
			}
		})
	}
}
