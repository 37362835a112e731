package sqlstmt

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"

	"github.com/cloudspannerecosystem/memefish/ast"
)

// The destructive classification, inverted: a statement needs only its own
// action (write for DML, ddl for DDL) when it is provably bounded or
// additive; everything else needs destructive as well.
//
// DML is bounded when:
//   - INSERT … VALUES: it writes the rows it lists (INSERT OR UPDATE and
//     INSERT OR IGNORE included);
//   - UPDATE or DELETE: its WHERE fixes or ranges the table's primary key
//     (KeyBounds.Bounded). That needs the table's key, which the caller
//     supplies with WithKeys; until then such a statement is classified
//     destructive, so a caller that cannot look the key up fails closed.
//
// Everything else is unbounded: UPDATE or DELETE with no WHERE, or a WHERE
// that does not fix the key (tautologies such as 1<2, NOT (1=2),
// EXISTS(…), Id IS NOT NULL, Id > -2^63, @flag, Col = Col; ORs; one-sided
// ranges), INSERT … SELECT in any form, and Partitioned DML.
//
// DDL is plain ddl only when it is on the allow-list of additive changes
// (ddlDestructive); everything else — every DROP, ALTER DATABASE, ALTER
// COLUMN, row deletion policies, renames, GRANT/REVOKE, replacing views,
// statements spangate does not know yet — is destructive.

// classifyDML fills Table and the destructive classification of a DML
// statement.
func classifyDML(st *Statement, n ast.DML) {
	switch n := n.(type) {
	case *ast.Insert:
		st.Table = Name(n.TableName)
		if _, ok := n.Input.(*ast.SubQueryInput); ok {
			st.Destructive, st.DestructiveReason = true, fmt.Sprintf("INSERT … SELECT into %s writes as many rows as its query returns", st.Table)
		}
	case *ast.Update:
		st.Table = Name(n.TableName)
		classifyWhere(st, n, n.Where)
	case *ast.Delete:
		st.Table = Name(n.TableName)
		classifyWhere(st, n, n.Where)
	}
	if st.Partitioned() {
		st.keyDependent = false
		st.Destructive, st.DestructiveReason = true, fmt.Sprintf("Partitioned DML runs %s over every partition of %s", st.Verb, st.Table)
	}
}

func classifyWhere(st *Statement, n ast.DML, where *ast.Where) {
	switch {
	case where == nil || where.Expr == nil:
		st.AllRows = true
		st.Destructive, st.DestructiveReason = true, fmt.Sprintf("%s of every row of %s (it has no WHERE clause)", st.Verb, st.Table)
	case !readsColumn(where.Expr):
		st.AllRows = true
		st.Destructive, st.DestructiveReason = true, fmt.Sprintf("%s of every row of %s or of none (its WHERE clause reads no column of the row, so it is the same for every row)", st.Verb, st.Table)
	case len(ConstrainedColumns(n)) == 0:
		st.Destructive, st.DestructiveReason = true, fmt.Sprintf("%s on %s that may change every row: its WHERE fixes no column to given values "+
			"(=, IN, or a range, with literals or parameters, joined by AND)", st.Verb, st.Table)
	default:
		st.keyDependent = true
		st.Destructive, st.DestructiveReason = true, fmt.Sprintf("%s on %s whose WHERE is not known to fix the table's primary key (the key was not looked up)", st.Verb, st.Table)
	}
}

// readsColumn reports whether e names anything (a column, a table in a
// subquery, a function): an expression that names nothing is the same for
// every row.
func readsColumn(e ast.Expr) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		if _, ok := n.(*ast.Ident); ok {
			found = true
		}
		return !found
	})
	return found
}

// KeyDependent reports whether the statement is an UPDATE or DELETE whose
// classification depends on its table's primary key: it stays destructive
// until WithKeys finds that its WHERE fixes or ranges the key.
func (s *Statement) KeyDependent() bool { return s.keyDependent }

// WithKeys returns the statement classified against its table's primary
// key columns (in key order) and, for parameters that bound a range, the
// parameter values: an UPDATE or DELETE whose WHERE fixes or ranges the
// key is then not destructive. Statements whose classification does not
// depend on the key are returned unchanged. The receiver is not modified,
// so a shared (cached) statement may be classified this way.
func (s Statement) WithKeys(keys []string, params map[string]any) Statement {
	if !s.keyDependent {
		return s
	}
	s.keyDependent = false
	ok, why := AnalyzeWhere(s.Node, keys).Bounded(params)
	if ok {
		s.Destructive, s.DestructiveReason = false, ""
		return s
	}
	s.DestructiveReason = fmt.Sprintf("%s on %s that may change many rows: %s", s.Verb, s.Table, why)
	return s
}

// ddlDestructive returns why a DDL statement is destructive, or "" when it
// is on the allow-list of additive schema changes:
//
//	CREATE TABLE (without a ROW DELETION POLICY)
//	CREATE INDEX, CREATE SEARCH INDEX, CREATE VECTOR INDEX
//	CREATE VIEW (not OR REPLACE)
//	CREATE CHANGE STREAM (of named tables; FOR ALL is refused as it watches spangate's tables)
//	CREATE SEQUENCE, CREATE SCHEMA
//	ALTER TABLE … ADD COLUMN
//	ALTER TABLE … ADD CONSTRAINT CHECK / FOREIGN KEY (not ON DELETE CASCADE)
//	ALTER INDEX … ADD STORED COLUMN
//	ANALYZE
func ddlDestructive(n ast.DDL) string {
	switch n := n.(type) {
	case *ast.CreateTable:
		if n.RowDeletionPolicy != nil {
			return fmt.Sprintf("CREATE TABLE %s with a ROW DELETION POLICY deletes rows by their age", Name(n.Name))
		}
		return ""
	case *ast.CreateIndex, *ast.CreateSearchIndex, *ast.CreateVectorIndex, *ast.CreateSequence, *ast.CreateSchema,
		*ast.CreateChangeStream, *ast.Analyze:
		return ""
	case *ast.CreateView:
		if n.OrReplace {
			return fmt.Sprintf("CREATE OR REPLACE VIEW %s replaces what the view returns", Name(n.Name))
		}
		return ""
	case *ast.AlterTable:
		table := Name(n.Name)
		switch a := n.TableAlteration.(type) {
		case *ast.AddColumn:
			return ""
		case *ast.AddTableConstraint:
			if fk, ok := a.TableConstraint.Constraint.(*ast.ForeignKey); ok && fk.OnDelete == ast.OnDeleteCascade {
				return fmt.Sprintf("a FOREIGN KEY … ON DELETE CASCADE makes every delete in %s delete rows of %s", Name(fk.ReferenceTable), table)
			}
			return ""
		case *ast.DropColumn:
			return fmt.Sprintf("DROP COLUMN %s.%s deletes the column's data", table, a.Name.Name)
		}
		return fmt.Sprintf("ALTER TABLE %s %s is not an additive schema change", table, words(n.TableAlteration))
	case *ast.AlterIndex:
		if _, ok := n.IndexAlteration.(*ast.AddStoredColumn); ok {
			return ""
		}
		return fmt.Sprintf("ALTER INDEX %s %s is not an additive schema change", Name(n.Name), words(n.IndexAlteration))
	case *ast.DropTable:
		return fmt.Sprintf("DROP TABLE %s deletes the table and its data", Name(n.Name))
	case *ast.DropIndex:
		return "DROP INDEX " + Name(n.Name)
	case *ast.DropSearchIndex:
		return "DROP SEARCH INDEX " + Name(n.Name)
	case *ast.DropVectorIndex:
		return "DROP VECTOR INDEX " + Name(n.Name)
	case *ast.AlterDatabase:
		return "ALTER DATABASE changes options of the whole database (such as how long old versions of data are kept)"
	}
	return verbOf(n) + " is not an additive schema change (only those need no more than ddl)"
}

// words spells a node's type as upper-case words: *ast.SetOnDelete
// becomes "SET ON DELETE".
func words(n any) string {
	if n == nil {
		return ""
	}
	t := reflect.TypeOf(n)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var b strings.Builder
	for i, r := range t.Name() {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// Params returns the names of the query parameters the statement uses,
// each once, in order of appearance. A parsed statement knows them from
// its parse (a statement from the Cache is checked on every request, so
// its tree is not walked again); the slice is shared: do not change it.
func (s *Statement) Params() []string {
	if s.paramsKnown {
		return s.params
	}
	return paramNames(s.Node)
}

// paramNames walks node for its query parameters, each once.
func paramNames(node ast.Node) []string {
	var names []string
	seen := map[string]bool{}
	ast.Inspect(node, func(n ast.Node) bool {
		if p, ok := n.(*ast.Param); ok && !seen[strings.ToLower(p.Name)] {
			seen[strings.ToLower(p.Name)] = true
			names = append(names, p.Name)
		}
		return true
	})
	return names
}
