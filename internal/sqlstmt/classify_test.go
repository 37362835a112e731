package sqlstmt_test

import (
	"strings"
	"testing"

	"github.com/spangate/spangate/internal/sqlstmt"
)

// TestClassifyDML: DML is bounded only when its WHERE fixes or ranges the
// primary key; every payload of issue 11 point 3, and variations.
func TestClassifyDML(t *testing.T) {
	keys := []string{"CustomerId", "OrderId"}
	tests := []struct {
		sql         string
		params      map[string]any
		destructive bool
		allRows     bool
	}{
		// The payloads as reported.
		{"DELETE FROM Orders WHERE 1<2", nil, true, true},
		{"DELETE FROM Orders WHERE NOT (1=2)", nil, true, true},
		{"DELETE FROM Orders WHERE EXISTS(SELECT 1)", nil, true, true},
		{"DELETE FROM Orders WHERE CustomerId IS NOT NULL", nil, true, false},
		{"DELETE FROM Orders WHERE CustomerId > -2^63", nil, true, false},
		{"DELETE FROM Orders WHERE @t", map[string]any{"t": true}, true, true},
		{"DELETE FROM Orders WHERE CustomerId = CustomerId", nil, true, false},
		{"INSERT OR UPDATE INTO Orders (CustomerId, OrderId) SELECT CustomerId, OrderId FROM Orders", nil, true, false},
		{"-- spangate:partitioned\nDELETE FROM Orders WHERE CustomerId IS NOT NULL", nil, true, false},
		// Variations.
		{"DELETE FROM Orders WHERE true", nil, true, true},
		{"DELETE FROM Orders WHERE (((1 = 1)))", nil, true, true},
		{"DELETE FROM Orders WHERE CustomerId = 1 OR true", nil, true, false},
		{"DELETE FROM Orders WHERE CustomerId >= -9223372036854775808", nil, true, false},
		{"DELETE FROM Orders WHERE CustomerId BETWEEN -9223372036854775808 AND 9223372036854775807", nil, true, false},
		{"DELETE FROM Orders WHERE CustomerId BETWEEN @lo AND @hi", map[string]any{"lo": int64(0), "hi": int64(1 << 40)}, true, false},
		{"DELETE FROM Orders WHERE CustomerId BETWEEN @lo AND @hi", nil, true, false},
		{"DELETE FROM Orders WHERE CustomerId BETWEEN 'a' AND 'z'", nil, true, false},
		{"DELETE FROM Orders WHERE CustomerId NOT BETWEEN 1 AND 2", nil, true, false},
		{"DELETE FROM Orders WHERE CustomerId NOT IN (1)", nil, true, false},
		{"DELETE FROM Orders WHERE CustomerId IN (SELECT CustomerId FROM Orders)", nil, true, false},
		{"DELETE FROM Orders WHERE CustomerId IN UNNEST(ARRAY(SELECT CustomerId FROM Orders))", nil, true, false},
		{"DELETE FROM Orders WHERE CustomerId = CustomerId + 0", nil, true, false},
		{"DELETE FROM Orders WHERE CustomerId = NULL", nil, true, false},
		{"DELETE FROM Orders WHERE OrderId = 5", nil, true, false},
		{"DELETE FROM Orders WHERE Note = 'x'", nil, true, false},
		{"DELETE FROM Orders WHERE NOT (CustomerId != 5)", nil, true, false},
		{"DELETE FROM Orders WHERE Other.CustomerId = 5", nil, true, false},
		{"DELETE FROM Orders WHERE IFNULL(CustomerId, 0) = 5", nil, true, false},
		{"UPDATE Orders SET Note = 'x' WHERE CustomerId > 5", nil, true, false},
		{"UPDATE Orders SET Note = 'x' WHERE CustomerId < 5 AND CustomerId > -99999", nil, true, false},
		{"INSERT INTO Orders (CustomerId, OrderId) SELECT 1, 2", nil, true, false},
		{"INSERT INTO Orders (CustomerId, OrderId) (SELECT 1, 2 UNION ALL SELECT 3, 4)", nil, true, false},
		// Bounded.
		{"DELETE FROM Orders WHERE CustomerId = 5", nil, false, false},
		{"DELETE FROM Orders WHERE customerid = @c", nil, false, false},
		{"DELETE FROM Orders WHERE `CUSTOMERID` = -5", nil, false, false},
		{"DELETE FROM Orders WHERE 5 = CustomerId AND OrderId = 7", nil, false, false},
		{"DELETE FROM Orders o WHERE o.CustomerId = 5 AND (o.OrderId > 1 OR TRUE)", nil, false, false},
		{"DELETE FROM Orders WHERE Orders.CustomerId IN (1, 2, 3)", nil, false, false},
		{"DELETE FROM Orders WHERE CustomerId IN UNNEST(@ids)", nil, false, false},
		{"DELETE FROM Orders WHERE CustomerId IN UNNEST([1, 2])", nil, false, false},
		{"DELETE FROM Orders WHERE CustomerId BETWEEN 1 AND 80000", nil, false, false},
		{"DELETE FROM Orders WHERE CustomerId >= @lo AND CustomerId < @hi", map[string]any{"lo": int64(10), "hi": int64(20)}, false, false},
		{"DELETE FROM Orders WHERE (CustomerId > 1) AND (10 >= CustomerId)", nil, false, false},
		{"UPDATE Orders SET Note = 'x' WHERE CustomerId = 5 AND Note IS NULL", nil, false, false},
		{"INSERT INTO Orders (CustomerId, OrderId) VALUES (1, 2), (3, 4)", nil, false, false},
		{"INSERT OR UPDATE INTO Orders (CustomerId, OrderId) VALUES (1, 2)", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			st, err := sqlstmt.ParseOne(tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			if st.AllRows != tt.allRows {
				t.Errorf("AllRows = %v, want %v", st.AllRows, tt.allRows)
			}
			st = st.WithKeys(keys, tt.params)
			if st.Destructive != tt.destructive {
				t.Errorf("Destructive = %v (%s), want %v", st.Destructive, st.DestructiveReason, tt.destructive)
			}
			if st.Destructive && st.DestructiveReason == "" {
				t.Error("destructive without a reason")
			}
		})
	}
}

// TestUnknownKeyFailsClosed: without the table's key, an UPDATE or DELETE
// whose WHERE could fix it is still destructive.
func TestUnknownKeyFailsClosed(t *testing.T) {
	st, err := sqlstmt.ParseOne("DELETE FROM Orders WHERE Id = 1")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Destructive || !st.KeyDependent() {
		t.Fatalf("unresolved: destructive %v, key dependent %v", st.Destructive, st.KeyDependent())
	}
	if r := st.WithKeys(nil, nil); !r.Destructive || !strings.Contains(r.DestructiveReason, "not known") {
		t.Errorf("with no key: %v %s", r.Destructive, r.DestructiveReason)
	}
	if r := st.WithKeys([]string{"Id"}, nil); r.Destructive {
		t.Errorf("with the key: %s", r.DestructiveReason)
	}
	if !st.Destructive {
		t.Error("WithKeys changed the shared statement")
	}
}

// TestKeyBounds: the one WHERE key analysis answers lint (every key column
// fixed) and static keys (equalities) as well as policy.
func TestKeyBounds(t *testing.T) {
	keys := []string{"A", "B"}
	tests := []struct {
		sql      string
		fixesAll bool
		eqA      int
	}{
		{"DELETE FROM T WHERE A = 1 AND B = 2", true, 1},
		{"DELETE FROM T WHERE A IN (1, 2) AND B = @b", true, 0},
		{"DELETE FROM T WHERE A = 1 AND A = 2 AND B = 3", true, 2},
		{"DELETE FROM T WHERE A = 1", false, 1},
		{"DELETE FROM T WHERE A = 1 OR B = 2", false, 0},
		{"DELETE FROM T WHERE A = B AND B = 2", false, 0},
		{"DELETE FROM T WHERE A > 1 AND A < 3 AND B = 1", false, 0},
		{"UPDATE T SET C = 1 WHERE (A = 1) AND ((B = 2))", true, 1},
	}
	for _, tt := range tests {
		st, err := sqlstmt.ParseOne(tt.sql)
		if err != nil {
			t.Fatal(err)
		}
		b := sqlstmt.AnalyzeWhere(st.Node, keys)
		if b.FixesAll() != tt.fixesAll || len(b.Equalities(0)) != tt.eqA {
			t.Errorf("%s: FixesAll %v, %d equalities on A; want %v, %d", tt.sql, b.FixesAll(), len(b.Equalities(0)), tt.fixesAll, tt.eqA)
		}
	}
}

// TestProtectedNames: every spelling of spangate's tables, anywhere.
func TestProtectedNames(t *testing.T) {
	for _, sql := range []string{
		"SELECT * FROM SpangateAudit",
		"SELECT * FROM spangateaudit",
		"SELECT * FROM `SPANGATEAUDITHEAD`",
		"SELECT * FROM `Spangate\\x41udit`",
		"SELECT * FROM sch.SpangateAudit",
		"SELECT x.Seq FROM SpangateAudit x",
		"SELECT 1 FROM Orders WHERE EXISTS (SELECT 1 FROM (SELECT * FROM SpangateLocks))",
		"SELECT Note FROM Orders UNION DISTINCT SELECT Statement FROM SpangateAudit",
		"WITH a AS (SELECT * FROM SpangateMigrations) SELECT * FROM a",
		"SELECT * FROM Orders@{FORCE_INDEX=SpangateAuditByPrincipal}",
		"SELECT SpangateAudit FROM Orders",
		"UPDATE Orders SET Note = 'x' WHERE Id = 1 THEN RETURN (SELECT COUNT(*) FROM SpangateAuditKeys) AS n",
		"INSERT INTO Orders (Id) SELECT Seq FROM SpangateAudit",
		"DELETE FROM SpangateAuditKeys WHERE TableName = 'orders'",
		"CREATE VIEW V SQL SECURITY INVOKER AS SELECT * FROM SpangateAudit",
		"CREATE CHANGE STREAM S FOR ALL",
		"ALTER CHANGE STREAM S SET FOR ALL",
		"GRANT SELECT ON TABLE SpangateAudit TO ROLE r",
	} {
		st, err := sqlstmt.ParseOne(sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if st.CheckCaller() == nil {
			t.Errorf("%s: not refused", sql)
		}
	}
	for _, sql := range []string{"SELECT 'SpangateAudit'", "SELECT * FROM Orders -- SpangateAudit", "SELECT * FROM Spangat"} {
		st, err := sqlstmt.ParseOne(sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if err := st.CheckCaller(); err != nil {
			t.Errorf("%s: refused: %v", sql, err)
		}
	}
}

// TestSyntaxErrorsSayWhatWasExpected: a misspelt first word names the
// statements expected; an UPDATE or DELETE without WHERE explains why
// Spanner needs one and what WHERE true needs.
func TestSyntaxErrorsSayWhatWasExpected(t *testing.T) {
	tests := []struct{ sql, want string }{
		{"SELEC 1", `"SELEC" does not start a statement; expected one of SELECT`},
		{"SELEC 1", "did you mean SELECT?"},
		{"  DELET FROM Orders WHERE Id = 1", "did you mean DELETE?"},
		{"DELETE FROM Orders", "Spanner requires a WHERE clause in every UPDATE and DELETE"},
		{"UPDATE Orders SET Note = 'x'", "WHERE true, which needs the destructive right"},
		{"SELECT * FROM Orders WHERE Id = 1 Nope", `but found "Nope"`},
		{"SELECT * FROM Orders WHERE", "the statement ends too early"},
		{"SELECT * FROM (SELECT 1", "but the statement ends"},
	}
	for _, tt := range tests {
		_, err := sqlstmt.ParseOne(tt.sql)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "<ident>") {
			t.Errorf("%s: %v; want a message with %q", tt.sql, err, tt.want)
		}
	}
}
