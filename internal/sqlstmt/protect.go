package sqlstmt

import (
	"strings"

	"github.com/cloudspannerecosystem/memefish/ast"

	"github.com/spangate/spangate"
)

// spangate's own objects. Every table, index, view or other object whose
// name starts with "Spangate" (in any case) belongs to spangate: its
// history, lock, audit trail, audit keys and chain head, and whatever it
// adds later. Only spangate's own code reads or writes them, through the
// Spanner client directly, never through a caller's statement.
//
// A caller's statement that names such an object anywhere — its target, a
// subquery, a CTE, a join, THEN RETURN, INSERT … SELECT, a view's query, an
// index or change stream or foreign key or row deletion policy or GRANT on
// it, an alias or column spelled that way — is refused. The check walks the
// parse tree (every identifier memefish produced), and also every
// identifier token the lexer read, so a node the walk does not reach still
// counts. Quoted and escaped names are compared by their value, so
// `Spangate\x41udit` is SpangateAudit. A change stream FOR ALL watches
// spangate's tables too and is refused the same way.

// ProtectedPrefix starts the name of every object spangate keeps for
// itself, compared case-insensitively.
const ProtectedPrefix = "Spangate"

// IsProtectedName reports whether name, or any dot-separated part of it,
// starts with ProtectedPrefix in any case.
func IsProtectedName(name string) bool {
	for part := range strings.SplitSeq(name, ".") {
		if len(part) >= len(ProtectedPrefix) && strings.EqualFold(part[:len(ProtectedPrefix)], ProtectedPrefix) {
			return true
		}
	}
	return false
}

// protectedName returns the first identifier in n that names one of
// spangate's objects, or "".
func protectedName(n ast.Node) string {
	found := ""
	ast.Inspect(n, func(x ast.Node) bool {
		if found != "" {
			return false
		}
		if id, ok := x.(*ast.Ident); ok && id != nil && IsProtectedName(id.Name) {
			found = id.Name
		}
		return true
	})
	return found
}

// forAllTables names what a change stream that watches every table
// watches, spangate's tables among them; "" for any other statement.
func forAllTables(n ast.DDL) string {
	var f ast.ChangeStreamFor
	switch n := n.(type) {
	case *ast.CreateChangeStream:
		f = n.For
	case *ast.AlterChangeStream:
		if s, ok := n.ChangeStreamAlteration.(*ast.ChangeStreamSetFor); ok {
			f = s.For
		}
	}
	if _, ok := f.(*ast.ChangeStreamForAll); ok {
		return "every table (FOR ALL), spangate's included"
	}
	return ""
}

// CheckCaller refuses a statement that names one of spangate's own
// objects (see ProtectedPrefix): a caller's statement, from any front door
// (exec, migration files, any API), must not read or write them. It
// returns nil for every other statement.
func (s *Statement) CheckCaller() error {
	if s.Protected == "" {
		return nil
	}
	return spangate.Errorf(spangate.Denied, "line %d: the statement names %s, which belongs to spangate: its tables (history, lock, audit trail) are read and written only by spangate itself", s.Line, s.Protected).
		WithHint(ProtectedHint)
}

// ProtectedHint is the hint of every refusal of a statement on spangate's
// own objects: no rule can allow one, so it says what to use instead.
const ProtectedHint = "read the audit trail with `spangate audit list` and check it with `spangate audit verify` (both need the audit right); the history with `spangate migrate status`; name your own objects without the Spangate prefix"

// ActionSpangateOnly is the action RequiredActions returns for a statement
// that names spangate's own objects. No rule can grant it (it is not one of
// spangate.Actions), so every policy denies such a statement.
const ActionSpangateOnly spangate.Action = "spangate-internal"
