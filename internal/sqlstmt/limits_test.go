package sqlstmt_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/spangate/spangate/internal/sqlstmt"
)

func nested(open, inner, close string, n int) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

func TestCheckLimits(t *testing.T) {
	lim := sqlstmt.Limits{MaxStatementBytes: 128, MaxDepth: 3}
	tests := []struct {
		name  string
		text  string
		limit string // "" when the text is within the limits
		line  int
	}{
		{"flat", "SELECT 1", "", 0},
		{"depth at the limit", "SELECT " + nested("(", "1", ")", 3), "", 0},
		{"parentheses over the limit", "SELECT " + nested("(", "1", ")", 4), sqlstmt.LimitDepth, 1},
		{"brackets count", "SELECT [[[[1]]]]", sqlstmt.LimitDepth, 1},
		{"CASE counts", "SELECT " + nested("CASE WHEN TRUE THEN ", "1", " END", 4), sqlstmt.LimitDepth, 1},
		{"lower-case case counts", "select " + nested("case when true then ", "1", " end", 4), sqlstmt.LimitDepth, 1},
		{"sequential groups do not add up", "SELECT (((1))) + (((2))) + (((3)))", "", 0},
		{"parentheses in a string", "SELECT '((((((((('", "", 0},
		{"parentheses in a triple-quoted string", "SELECT '''((((\n(((('''", "", 0},
		{"parentheses in a comment", "SELECT 1 -- ((((((((\n", "", 0},
		{"parentheses in a block comment", "SELECT /* (((((((( */ 1", "", 0},
		{"parentheses in a quoted name", "SELECT 1 AS `((((((`", "", 0},
		{"depth on a later line", "SELECT 1,\n" + nested("(", "1", ")", 4), sqlstmt.LimitDepth, 2},
		{"depth restarts after a semicolon", "SELECT (((1;\nSELECT (((1)))", "", 0},
		{"long statement", "SELECT " + strings.Repeat("1+", 80) + "1", sqlstmt.LimitStatementBytes, 1},
		{"long comment before a statement", "-- " + strings.Repeat("x", 150) + "\nSELECT 1", sqlstmt.LimitStatementBytes, 1},
		{"statements each within the limit", strings.Repeat("SELECT 1;\n", 20), "", 0},
		{"second statement too long", "SELECT 1;\nSELECT " + strings.Repeat("1+", 80) + "1", sqlstmt.LimitStatementBytes, 2},
		{"unterminated string is left to the parser", "SELECT 'abc", "", 0},
		{"depth before a lexer error", "SELECT " + strings.Repeat("(", 5) + "'abc", sqlstmt.LimitDepth, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sqlstmt.CheckLimits(tt.text, lim)
			if tt.limit == "" {
				if err != nil {
					t.Fatalf("CheckLimits = %v, want nil", err)
				}
				return
			}
			var le *sqlstmt.LimitError
			if !errors.As(err, &le) {
				t.Fatalf("CheckLimits = %v, want a LimitError", err)
			}
			if le.Limit != tt.limit || le.Line != tt.line || le.Got <= le.Max {
				t.Errorf("LimitError = %+v, want limit %s at line %d", le, tt.limit, tt.line)
			}
		})
	}
}

// TestCheckLimitsDeepInput: 100,000 nested parentheses, which memefish
// takes minutes to parse, are refused by the scan, and a deep text within
// a large depth limit is scanned without recursion.
func TestCheckLimitsDeepInput(t *testing.T) {
	for _, n := range []int{30000, 100000} {
		text := "SELECT " + nested("(", "1", ")", n)
		err := sqlstmt.CheckLimits(text, sqlstmt.Limits{MaxStatementBytes: 1 << 20, MaxDepth: 200})
		var le *sqlstmt.LimitError
		if !errors.As(err, &le) || le.Limit != sqlstmt.LimitDepth || le.Max != 200 {
			t.Fatalf("depth %d: CheckLimits = %v, want the depth limit", n, err)
		}
		if err := sqlstmt.CheckLimits(text, sqlstmt.Limits{MaxDepth: n}); err != nil {
			t.Fatalf("depth %d within a limit of %d: %v", n, n, err)
		}
	}
}

func TestCheckLimitsZeroIsNoLimit(t *testing.T) {
	if err := sqlstmt.CheckLimits("SELECT "+nested("(", "1", ")", 500), sqlstmt.Limits{}); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkCheckLimits(b *testing.B) {
	text := "SELECT 1" + strings.Repeat("+(1)", 1<<18) // 1 MiB
	lim := sqlstmt.Limits{MaxStatementBytes: 2 << 20, MaxDepth: 200}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if err := sqlstmt.CheckLimits(text, lim); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzCheckLimits: the scan never panics; an error is a LimitError that
// names a line of the text and a value over its limit; and a text within
// some limits is within any larger ones.
func FuzzCheckLimits(f *testing.F) {
	for _, s := range []string{
		"SELECT ((1))", "SELECT CASE WHEN (1) THEN [2] END; SELECT 3",
		"SELECT '((' -- ((\n/* ( */ `(`", "'''unterminated", "SELECT r'\\' , (((1)))",
		"SELECT \"\"\"a\"\"\" ((", "{{{", ")))(((", "END END CASE",
	} {
		f.Add(s, 2, 16)
	}
	f.Fuzz(func(t *testing.T, text string, depth, size int) {
		depth, size = depth%64, size%4096
		lim := sqlstmt.Limits{MaxDepth: depth, MaxStatementBytes: size}
		err := sqlstmt.CheckLimits(text, lim)
		if err == nil {
			bigger := sqlstmt.Limits{MaxDepth: depth + 1, MaxStatementBytes: size + 1}
			if depth <= 0 {
				bigger.MaxDepth = 0
			}
			if size <= 0 {
				bigger.MaxStatementBytes = 0
			}
			if err := sqlstmt.CheckLimits(text, bigger); err != nil {
				t.Fatalf("within %+v but not within %+v: %v", lim, bigger, err)
			}
			return
		}
		var le *sqlstmt.LimitError
		if !errors.As(err, &le) {
			t.Fatalf("error %v is not a LimitError", err)
		}
		if le.Got <= le.Max || le.Line < 1 || le.Line > strings.Count(text, "\n")+1 {
			t.Fatalf("LimitError %+v for a text of %d lines", le, strings.Count(text, "\n")+1)
		}
	})
}

// BenchmarkParseAtTheLimits parses the costliest statement the default
// limits let through: 1 MiB of groups nested 200 deep.
func BenchmarkParseAtTheLimits(b *testing.B) {
	group := nested("(", "1", ")", 200)
	text := "SELECT " + strings.Repeat(group+"+", (1<<20)/(len(group)+1)-1) + "1"
	if err := sqlstmt.CheckLimits(text, sqlstmt.Limits{MaxStatementBytes: 1 << 20, MaxDepth: 200}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := sqlstmt.ParseOne(text); err != nil {
			b.Fatal(err)
		}
	}
}
